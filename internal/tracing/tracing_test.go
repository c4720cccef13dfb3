package tracing

import (
	"context"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/portero-id/portero/internal/config"
)

func TestOffByDefault(t *testing.T) {
	tp, stop, err := Provider(context.Background(), config.Defaults().Tracing, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer stop(context.Background())
	_, span := tp.Tracer("t").Start(context.Background(), "x")
	if span.IsRecording() {
		t.Fatal("tracing is on without an endpoint")
	}
}

// TestSamplingFollowsTheCaller: with 0 % sampling no new trace is
// recorded, but a request that arrives in a sampled trace is.
func TestSamplingFollowsTheCaller(t *testing.T) {
	exporter := tracetest.NewInMemoryExporter()
	tp, stop, err := newProvider(exporter, 0, "test")
	if err != nil {
		t.Fatal(err)
	}
	_, own := tp.Tracer("t").Start(context.Background(), "own")
	own.End()
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	parent := trace.ContextWithRemoteSpanContext(context.Background(),
		trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, Remote: true}))
	_, child := tp.Tracer("t").Start(parent, "child")
	child.End()
	defer stop(context.Background())
	// Shutdown would also clear the in-memory exporter.
	if err := tp.(*sdktrace.TracerProvider).ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	spans := exporter.GetSpans()
	if len(spans) != 1 || spans[0].Name != "child" {
		t.Fatalf("exported %d spans: %v", len(spans), spans)
	}
	if v, ok := spans[0].Resource.Set().Value("service.name"); !ok || v.AsString() != "portero" {
		t.Fatalf("resource service.name = %v", v)
	}
}

func TestEndpointMustParse(t *testing.T) {
	if _, _, err := Provider(context.Background(), config.Tracing{Endpoint: "http://collector:4318/v1/traces", SamplePercent: 100}, "t"); err != nil {
		t.Fatalf("a valid endpoint: %v", err)
	}
}
