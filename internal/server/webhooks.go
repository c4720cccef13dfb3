package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/portero-id/portero/internal/config"
	"github.com/portero-id/portero/internal/store"
	"github.com/portero-id/portero/internal/webhooks"
)

// DeliverWebhooks delivers the ledger to webhooks.url until ctx ends (at
// once when it is not set). Run starts it.
func (s *Server) DeliverWebhooks(ctx context.Context) {
	if s.webhooks != nil {
		s.webhooks.Run(ctx)
	}
}

// newWebhooks builds the ledger's delivery to webhooks.url (nil when it is
// not set), counted by result.
func newWebhooks(cfg *config.Config, st *store.Store, reg prometheus.Registerer, log *slog.Logger) (*webhooks.Dispatcher, error) {
	if cfg.Webhooks.URL == "" {
		return nil, nil
	}
	d, err := webhooks.New(cfg.Webhooks.URL, cfg.Secrets.Webhooks)
	if err != nil {
		return nil, fmt.Errorf("webhooks: %w", err)
	}
	deliveries := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "portero_webhook_deliveries_total", Help: "Webhook deliveries of ledger entries, by result (ok, failed: retried).",
	}, []string{"result"})
	reg.MustRegister(deliveries)
	host, _ := os.Hostname()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	d.Owner = host + "-" + hex.EncodeToString(b)
	d.Kinds, d.Store, d.Log = cfg.Webhooks.Kinds, st, log
	d.OnResult = func(result string) { deliveries.WithLabelValues(result).Inc() }
	return d, nil
}
