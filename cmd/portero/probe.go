package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// probe is the container health check: the image has no shell or curl, so
// the binary asks its own readiness endpoint. It reads no configuration
// and touches no database.
func (g *globals) probe(ctx context.Context, args []string) error {
	fs := newFlags("probe", g)
	target := fs.String("url", "http://127.0.0.1:8080/health/ready", "the endpoint to ask")
	timeout := fs.Duration("timeout", 3*time.Second, "how long to wait for the answer")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *target, nil)
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("probe: %s answered %d", *target, resp.StatusCode)
	}
	return nil
}
