package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/portero-id/portero/internal/requestinfo"
	"github.com/portero-id/portero/internal/session"
	"github.com/portero-id/portero/oauth"
)

type requestIDKey struct{}

// RequestID returns the id of the request ctx belongs to, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{8,64}$`)

// withRequestContext sets up every request's context once (one copy of
// the request):
//   - an id (a sane incoming X-Request-Id is kept, so a proxy's id follows
//     the request), echoed in the response;
//   - a deadline of d (http.write_timeout: past it the server cannot
//     deliver the answer anyway), so that a database or relay that stops
//     answering fails the request instead of holding it and its
//     connection; work that must outlive the response (audit events, mail)
//     runs on a context without cancellation;
//   - the outage probe the OAuth endpoints consult (oauth.WatchOutage);
//   - the facts handlers learn for the access log (requestinfo).
func withRequestContext(d time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !requestIDPattern.MatchString(id) {
			b := make([]byte, 12)
			_, _ = rand.Read(b)
			id = hex.EncodeToString(b)
		}
		w.Header().Set("X-Request-Id", id)
		ctx := r.Context()
		if d > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, d)
			defer cancel()
		}
		ctx, _ = requestinfo.With(context.WithValue(oauth.WatchOutage(ctx), requestIDKey{}, id))
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// requestIDHandler adds the request id to every log line written with a
// request's ctx.
type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := RequestID(ctx); id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(attrs)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}

// WithRequestIDs wraps a logger so lines logged with a request's ctx carry
// its id.
func WithRequestIDs(l *slog.Logger) *slog.Logger { return slog.New(requestIDHandler{l.Handler()}) }

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// httpMetrics holds the request metrics.
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portero_http_requests_total", Help: "HTTP requests by route template, method and status.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "portero_http_request_duration_seconds",
			Help:    "HTTP request duration by route template.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

// traced makes a server span for every request (continuing a caller's
// W3C trace context); observe names it after the route. Without a tracer
// provider it adds nothing.
func traced(tp trace.TracerProvider, next http.Handler) http.Handler {
	if tp == nil {
		return next
	}
	return otelhttp.NewHandler(next, "HTTP", otelhttp.WithTracerProvider(tp),
		otelhttp.WithPropagators(propagation.TraceContext{}))
}

// observe (a mux middleware, so the matched route is known) records
// metrics and an access-log line for each request (with the client's
// address and, once a handler knows it, the OAuth client), and turns a
// panic into a plain 500 (logged once, no stack to the client).
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		route := "unmatched"
		if cur := mux.CurrentRoute(r); cur != nil {
			if tpl, err := cur.GetPathTemplate(); err == nil {
				route = tpl
			}
		}
		if span := trace.SpanFromContext(r.Context()); span.IsRecording() {
			span.SetName(r.Method + " " + route)
			span.SetAttributes(attribute.String("http.route", route))
		}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.ErrorContext(r.Context(), "handler panicked", "panic", v, "route", route)
				if rec.status == 0 {
					http.Error(rec, `{"error":"server_error"}`, http.StatusInternalServerError)
				}
			}
			status := rec.status
			if status == 0 {
				status = http.StatusOK
			}
			d := time.Since(start)
			s.metrics.requests.WithLabelValues(route, r.Method, strconv.Itoa(status)).Inc()
			s.metrics.duration.WithLabelValues(route).Observe(d.Seconds())
			attrs := []slog.Attr{slog.String("method", r.Method), slog.String("route", route),
				slog.Int("status", status), slog.Float64("duration_ms", float64(d.Microseconds())/1000),
				slog.String("client_ip", session.ClientIP(r))}
			if info := requestinfo.From(r.Context()); info != nil && info.ClientID() != "" {
				attrs = append(attrs, slog.String("client_id", info.ClientID()))
			}
			s.log.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
		}()
		next.ServeHTTP(rec, r)
	})
}

// withClientAddr replaces the peer address with the client's when the
// peer is a trusted reverse proxy: the right-most X-Forwarded-For entry
// that is not itself a trusted proxy. Everything after it (throttling,
// audit events, session rows) reads r.RemoteAddr. Entries left of that
// one were written by the client and are ignored; so is the header when
// the peer is not trusted.
func withClientAddr(trusted []netip.Prefix, next http.Handler) http.Handler {
	if len(trusted) == 0 {
		return next
	}
	isTrusted := func(a netip.Addr) bool {
		for _, p := range trusted {
			if p.Contains(a.Unmap()) {
				return true
			}
		}
		return false
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		peer, err := netip.ParseAddrPort(r.RemoteAddr)
		if err != nil || !isTrusted(peer.Addr()) {
			next.ServeHTTP(w, r)
			return
		}
		hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
		for i := len(hops) - 1; i >= 0; i-- {
			a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
			if err != nil {
				break // garbage: stop at the last address we could trust
			}
			if !isTrusted(a) {
				r2 := *r
				r2.RemoteAddr = netip.AddrPortFrom(a.Unmap(), 0).String()
				next.ServeHTTP(w, &r2)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// limitBodies bounds every request body of a listener at limit bytes
// (http.max_body_bytes), in one place so that no endpoint is left without
// a bound: a declared length above it is answered 413 before the handler
// runs, and a chunked body is read up to the limit first, and answered 413
// if it goes past. Handlers never see more than limit bytes.
func limitBodies(limit int64, tooLarge http.HandlerFunc, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		if r.ContentLength > limit {
			tooLarge(w, r)
			return
		}
		if r.ContentLength < 0 {
			body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
			if err != nil {
				// The client went away mid-body.
				writeJSONStatus(w, http.StatusBadRequest, `{"error":"invalid_request","error_description":"The request body could not be read."}`)
				return
			}
			if int64(len(body)) > limit {
				tooLarge(w, r)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.ContentLength = int64(len(body))
		}
		// The server stops a body at its declared length; the reader keeps
		// the bound explicit for anything that replaces r.Body.
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		next.ServeHTTP(w, r)
	})
}
