// Command orders is an example marketplace service protected by Portero:
// GET /orders answers only callers whose access token carries the role
// "vendor", and shows what the package resource learned from the token.
//
// Configuration (environment):
//
//	PORTERO_ISSUER        Portero's issuer URL (e.g. http://localhost:8080)
//	ORDERS_CLIENT_ID      this service's client id at Portero (e.g. orders-api)
//	ORDERS_CLIENT_SECRET  its client secret (introspection)
//	ORDERS_ADDRESS        where to listen (default 127.0.0.1:8081)
//	ORDERS_MODE           introspect (default) or local-jwt
//	ORDERS_AUDIENCE       optional: the "aud" tokens must carry
//
// See README.md for a walk-through with "portero serve --dev".
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/portero-id/portero/resource"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(log); err != nil {
		log.Error("orders", "err", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	cfg := resource.Config{
		Issuer:       os.Getenv("PORTERO_ISSUER"),
		ClientID:     os.Getenv("ORDERS_CLIENT_ID"),
		ClientSecret: os.Getenv("ORDERS_CLIENT_SECRET"),
		Audience:     os.Getenv("ORDERS_AUDIENCE"),
		Logger:       log,
	}
	switch mode := os.Getenv("ORDERS_MODE"); mode {
	case "", "introspect":
	case "local-jwt":
		cfg.Mode = resource.LocalJWT
	default:
		return fmt.Errorf("ORDERS_MODE=%q: use introspect or local-jwt", mode)
	}
	if cfg.Issuer == "" {
		return errors.New("PORTERO_ISSUER is not set")
	}
	startCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	v, err := resource.New(startCtx, cfg)
	cancel()
	if err != nil {
		return err
	}

	mux := http.NewServeMux()
	mux.Handle("GET /orders", v.Middleware(resource.RequireRole("vendor")(http.HandlerFunc(listOrders))))
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })

	addr := os.Getenv("ORDERS_ADDRESS")
	if addr == "" {
		addr = "127.0.0.1:8081"
	}
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("orders listening", "address", addr, "issuer", cfg.Issuer, "mode", cfg.Mode.String())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = srv.Shutdown(shutdownCtx)
	log.Info("orders stopped")
	return err
}

type order struct {
	ID     string `json:"id"`
	Item   string `json:"item"`
	Amount int    `json:"amount_cop"`
}

// listOrders runs only for vendors: Middleware validated the token and
// RequireRole checked the role.
func listOrders(w http.ResponseWriter, r *http.Request) {
	claims, _ := resource.FromContext(r.Context())
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"vendor":    claims.Subject,
		"client_id": claims.ClientID,
		"roles":     claims.Roles,
		"scopes":    claims.Scopes,
		"orders": []order{
			{ID: "ord-1001", Item: "Café de Huila, 500 g", Amount: 38000},
			{ID: "ord-1002", Item: "Arepas de choclo x6", Amount: 15000},
		},
	})
}
