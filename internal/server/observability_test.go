package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/portero-id/portero/internal/server"
	"github.com/portero-id/portero/internal/store"
)

// syncBuffer is a log sink the server's goroutines can share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines(t *testing.T) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(s.b.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		out = append(out, m)
	}
	return out
}

// TestTracesAndAccessLog: with a tracer provider, a token request is one
// trace: the server span (named after the route, carrying the client id,
// continuing the caller's traceparent) with a span per storage statement
// under it. The access-log line carries the client id, the client's
// address and the duration in milliseconds.
func TestTracesAndAccessLog(t *testing.T) {
	exporter := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exporter))
	st, err := store.Open(context.Background(), store.Options{SQLitePath: filepath.Join(t.TempDir(), "portero.db"), Tracer: tp})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	log := server.WithRequestIDs(slog.New(slog.NewJSONHandler(logs, nil)))
	e := newServer(t, st, nil, extras{log: log, opts: []server.Option{server.WithTracerProvider(tp)}})
	e.seed()
	exporter.Reset()

	const parentTrace, parentSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	req, _ := http.NewRequest(http.MethodPost, e.ts.URL+"/oauth2/token",
		strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "scope": {"orders:read"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("traceparent", "00-"+parentTrace+"-"+parentSpan+"-01")
	req.SetBasicAuth("orders-api", e.secrets["orders-api"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("token: %d", resp.StatusCode)
	}

	spans := exporter.GetSpans()
	var root *tracetest.SpanStub
	for i := range spans {
		if spans[i].SpanKind == trace.SpanKindServer {
			root = &spans[i]
		}
	}
	if root == nil {
		t.Fatalf("no server span among %d spans", len(spans))
	}
	if root.Name != "POST /oauth2/token" || root.SpanContext.TraceID().String() != parentTrace || root.Parent.SpanID().String() != parentSpan {
		t.Fatalf("server span %q in trace %s under %s", root.Name, root.SpanContext.TraceID(), root.Parent.SpanID())
	}
	attrs := map[string]string{}
	for _, a := range root.Attributes {
		attrs[string(a.Key)] = a.Value.String()
	}
	if attrs["oauth.client_id"] != "orders-api" || attrs["http.route"] != "/oauth2/token" {
		t.Fatalf("server span attributes: %v", attrs)
	}
	statements := 0
	for _, s := range spans {
		if s.SpanKind != trace.SpanKindClient {
			continue
		}
		statements++
		if s.SpanContext.TraceID() != root.SpanContext.TraceID() {
			t.Errorf("statement span %q is in another trace", s.Name)
		}
		for _, a := range s.Attributes {
			if a.Key == "db.query.text" && strings.Contains(a.Value.AsString(), e.secrets["orders-api"]) {
				t.Errorf("a statement span holds the client secret")
			}
		}
	}
	if statements == 0 {
		t.Fatal("no span for a storage statement")
	}

	var line map[string]any
	for _, l := range logs.lines(t) {
		if l["msg"] == "request" && l["route"] == "/oauth2/token" {
			line = l
		}
	}
	if line == nil {
		t.Fatal("no access-log line for the token request")
	}
	if line["client_id"] != "orders-api" || line["client_ip"] != "127.0.0.1" || line["status"] != float64(200) || line["request_id"] == nil {
		t.Fatalf("access log line: %v", line)
	}
	if ms, ok := line["duration_ms"].(float64); !ok || ms <= 0 {
		t.Fatalf("duration_ms = %v", line["duration_ms"])
	}
}
