package outbound

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

func TestPermits(t *testing.T) {
	var p Policy
	for addr, want := range map[string]bool{
		"8.8.8.8": true, "2606:4700::1111": true,
		"127.0.0.1": false, "::1": false, "10.1.2.3": false, "172.16.0.1": false, "192.168.1.1": false,
		"169.254.169.254": false, "fe80::1": false, "fc00::1": false, "0.0.0.0": false, "::": false,
		"100.64.0.1": false, "::ffff:127.0.0.1": false, "224.0.0.1": false, "64:ff9b::7f00:1": false,
	} {
		if got := p.Permits(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Permits(%s) = %v, want %v", addr, got, want)
		}
	}
	dev := Policy{Allowed: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	if !dev.Permits(netip.MustParseAddr("127.0.0.1")) || dev.Permits(netip.MustParseAddr("10.0.0.1")) {
		t.Error("an allowed prefix")
	}
}

func TestCheckURL(t *testing.T) {
	var p Policy
	ctx := context.Background()
	for _, raw := range []string{
		"http://rp.example.com/bcl", "https://127.0.0.1/bcl", "https://[::1]:8443/", "https://169.254.169.254/latest",
		"https://localhost/bcl", "https://a.localhost/", "https://10.0.0.8/", "https://user:pw@rp.example.com/", "ftp://x/",
	} {
		if err := p.CheckURL(ctx, raw); !errors.Is(err, ErrForbidden) {
			t.Errorf("CheckURL(%s) = %v, want ErrForbidden", raw, err)
		}
	}
	if err := p.CheckURL(ctx, "https://8.8.8.8/bcl"); err != nil {
		t.Errorf("a public address: %v", err)
	}
}

// TestClientRefusesAtConnectTime: whatever the URL said, the dialer sees
// the address and refuses a forbidden one (the DNS-rebinding defence).
func TestClientRefusesAtConnectTime(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer srv.Close()
	if _, err := (Policy{}).Client(time.Second).Get(srv.URL); !errors.Is(err, ErrForbidden) {
		t.Fatalf("loopback: %v, want ErrForbidden", err)
	}
	dev := Policy{Allowed: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	resp, err := dev.Client(time.Second).Get(srv.URL)
	if err != nil {
		t.Fatalf("allowed loopback: %v", err)
	}
	resp.Body.Close()
}

// TestClientTraces: with a tracer, every call is a client span whose
// context reaches the callee in a traceparent header; the policy still
// applies underneath.
func TestClientTraces(t *testing.T) {
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got <- r.Header.Get("traceparent") }))
	defer srv.Close()
	exporter := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exporter))
	p := Policy{Allowed: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, Tracer: tp}
	resp, err := p.Client(time.Second).Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	spans := exporter.GetSpans()
	if len(spans) != 1 || spans[0].SpanKind != trace.SpanKindClient {
		t.Fatalf("spans: %v", spans)
	}
	if header := <-got; !strings.Contains(header, spans[0].SpanContext.TraceID().String()) {
		t.Fatalf("traceparent %q does not carry trace %s", header, spans[0].SpanContext.TraceID())
	}
	if _, err := (Policy{Tracer: tp}).Client(time.Second).Get(srv.URL); !errors.Is(err, ErrForbidden) {
		t.Fatalf("traced client to loopback: %v, want ErrForbidden", err)
	}
}
