package oauth

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"

	"github.com/ory/fosite"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/render"
)

// A storage failure is never a protocol answer: not active:false at
// introspection, not invalid_client at authentication, not invalid_grant at
// the token endpoint. fosite turns many storage errors into such answers
// (its introspection wraps every lookup error as request_unauthorized; its
// client authentication calls any GetClient error invalid_client), and it
// sometimes replaces the error it got with another. So the storage
// boundary records the failure on the request itself (an outage probe in
// the context), and the one question every endpoint asks before answering,
// storageFailed, looks at the probe as well as at the error.

type outageKey struct{}

type outageProbe struct{ failed atomic.Bool }

// WatchOutage returns ctx with an outage probe for the storage boundary
// (the server installs it with the rest of a request's context; the
// provider's own endpoints add one when it is missing).
func WatchOutage(ctx context.Context) context.Context {
	if _, ok := ctx.Value(outageKey{}).(*outageProbe); ok {
		return ctx
	}
	return context.WithValue(ctx, outageKey{}, &outageProbe{})
}

// noteOutage records on ctx's probe that err, if a storage failure
// (identity.ErrUnavailable), happened during this request; it returns err
// marked as one.
func noteOutage(ctx context.Context, err error) error {
	err = identity.Unavailable(err)
	if errors.Is(err, identity.ErrUnavailable) {
		if p, ok := ctx.Value(outageKey{}).(*outageProbe); ok {
			p.failed.Store(true)
		}
	}
	return err
}

// storeErr is noteOutage for the storage adapter: fosite's own sentinels
// and the answers about the data pass through unmarked.
func storeErr(ctx context.Context, err error) error {
	var rfc *fosite.RFC6749Error
	if err == nil || errors.As(err, &rfc) || errors.Is(err, fosite.ErrNotFound) {
		return err
	}
	return noteOutage(ctx, err)
}

// storageFailed reports whether the request met a storage failure, by the
// error or by the probe.
func storageFailed(ctx context.Context, err error) bool {
	if errors.Is(err, identity.ErrUnavailable) {
		return true
	}
	p, ok := ctx.Value(outageKey{}).(*outageProbe)
	return ok && p.failed.Load()
}

// writeStoreError answers a back-channel request whose store call failed:
// the failure is noted as an outage, so the answer is 503 (writeTokenError).
func (p *Provider) writeStoreError(w http.ResponseWriter, r *http.Request, err error) {
	p.writeTokenError(w, r, fosite.ErrServerError.WithWrap(noteOutage(r.Context(), err)))
}

// writeUnavailable is the back channel's outage answer: 503, Retry-After,
// and RFC 6749's temporarily_unavailable.
func writeUnavailable(w http.ResponseWriter) {
	w.Header().Set("Retry-After", render.RetryAfter)
	writeJSONError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "The service is temporarily unavailable; try again shortly.")
}
