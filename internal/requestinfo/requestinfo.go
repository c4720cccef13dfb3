// Package requestinfo carries what a handler learns while serving a
// request (which OAuth client called) back out to the access-log line and
// to the request's trace span, which are written by middleware that ran
// before the handler knew.
package requestinfo

import (
	"context"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// Info is one request's facts; safe for concurrent use.
type Info struct {
	clientID atomic.Pointer[string]
}

type key struct{}

// With returns ctx carrying a new Info.
func With(ctx context.Context) (context.Context, *Info) {
	i := &Info{}
	return context.WithValue(ctx, key{}, i), i
}

// SetClient records the authenticated client of the request in ctx. It
// does nothing outside a request set up by With.
func SetClient(ctx context.Context, id string) {
	if id == "" {
		return
	}
	if i := From(ctx); i != nil {
		i.clientID.Store(&id)
	}
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		span.SetAttributes(attribute.String("oauth.client_id", id))
	}
}

// From returns the Info of the request ctx belongs to, or nil.
func From(ctx context.Context) *Info {
	i, _ := ctx.Value(key{}).(*Info)
	return i
}

// ClientID is the client recorded, or "".
func (i *Info) ClientID() string {
	if p := i.clientID.Load(); p != nil {
		return *p
	}
	return ""
}
