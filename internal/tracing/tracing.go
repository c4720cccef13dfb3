// Package tracing builds the OpenTelemetry tracer provider from the
// configuration: OTLP/HTTP export when tracing.endpoint is set, a no-op
// provider otherwise. The provider is passed to whoever makes spans (the
// HTTP middleware, the store, the outbound client); nothing is global.
package tracing

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/portero-id/portero/internal/config"
)

// Provider returns the tracer provider cfg asks for and the function that
// flushes and stops it (call it on shutdown).
func Provider(ctx context.Context, cfg config.Tracing, version string) (trace.TracerProvider, func(context.Context) error, error) {
	if cfg.Endpoint == "" {
		return noop.NewTracerProvider(), func(context.Context) error { return nil }, nil
	}
	exporter, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(cfg.Endpoint))
	if err != nil {
		return nil, nil, fmt.Errorf("tracing.endpoint: %w", err)
	}
	return newProvider(exporter, cfg.SamplePercent, version)
}

func newProvider(exporter sdktrace.SpanExporter, samplePercent int, version string) (trace.TracerProvider, func(context.Context) error, error) {
	res := resource.NewSchemaless(semconv.ServiceName("portero"), semconv.ServiceVersion(version))
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exporter),
		sdktrace.WithResource(res),
		// A caller's sampling decision is followed, so that a trace that
		// starts in a marketplace service continues through Portero.
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(float64(samplePercent)/100))),
	)
	return tp, tp.Shutdown, nil
}
