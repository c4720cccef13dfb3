// Package server wires Portero together: the one place where the store,
// keys, sessions, pages and endpoints meet.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/portero-id/portero/internal/config"
	"github.com/portero-id/portero/internal/render"
	"github.com/portero-id/portero/internal/session"
	"github.com/portero-id/portero/internal/store"
	"github.com/portero-id/portero/internal/web"
	"github.com/portero-id/portero/oauth"
	"github.com/portero-id/portero/static"
	"github.com/portero-id/portero/templates"
)

// Server is a configured Portero instance.
type Server struct {
	cfg      *config.Config
	log      *slog.Logger
	Store    *store.Store
	Provider *oauth.Provider
	Keys     *oauth.Keyring
	Handler  http.Handler
	router   *mux.Router
	metrics  *httpMetrics
	now      func() time.Time
}

// Secrets returns the system secret followed by the previous ones.
func Secrets(cfg *config.Config) [][]byte {
	out := [][]byte{[]byte(cfg.Secrets.System)}
	for _, s := range cfg.Secrets.SystemOld {
		out = append(out, []byte(s))
	}
	return out
}

// OpenStore opens the configured database, migrating it when configured to.
func OpenStore(ctx context.Context, cfg *config.Config, log *slog.Logger) (*store.Store, error) {
	st, err := store.Open(ctx, store.Options{
		URL:             cfg.Database.URL,
		SQLitePath:      cfg.Database.SQLitePath,
		MaxOpenConns:    cfg.Database.MaxOpenConns,
		MaxIdleConns:    cfg.Database.MaxIdleConns,
		ConnMaxLifetime: cfg.Database.ConnMaxLifetime,
		Logger:          log,
	})
	if err != nil {
		return nil, err
	}
	if cfg.Database.MigrateOnStart {
		if err := st.Migrate(ctx); err != nil {
			st.Close()
			return nil, fmt.Errorf("migrate: %w", err)
		}
	}
	return st, nil
}

// New builds the server from a validated config. log should come from
// WithRequestIDs.
func New(ctx context.Context, cfg *config.Config, log *slog.Logger) (*Server, error) {
	st, err := OpenStore(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	s, err := NewWithStore(ctx, cfg, st, log)
	if err != nil {
		st.Close()
		return nil, err
	}
	return s, nil
}

// NewWithStore builds the server over an open, migrated store.
func NewWithStore(ctx context.Context, cfg *config.Config, st *store.Store, log *slog.Logger) (*Server, error) {
	now := time.Now
	secrets := Secrets(cfg)
	keys, err := oauth.NewKeyring(ctx, st, secrets, cfg.OAuth.JWKSCachePeriod, now)
	if err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	issuer, err := url.Parse(cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("issuer: %w", err)
	}
	https := issuer.Scheme == "https"

	pages, err := render.New(templates.FS, log)
	if err != nil {
		return nil, err
	}
	pages.HSTS = https
	pages.RequestID = func(r *http.Request) string { return RequestID(r.Context()) }

	var cookieKeys [][]byte
	for _, sec := range secrets {
		cookieKeys = append(cookieKeys, oauth.DeriveKey(sec, "session cookie hash"), oauth.DeriveKey(sec, "session cookie block"))
	}
	sessions := &session.Manager{
		Store:       st,
		Codecs:      session.NewCodecs(cookieKeys...),
		CookieName:  cfg.Session.CookieName,
		Secure:      https,
		Lifespan:    cfg.Session.Lifespan,
		IdleTimeout: cfg.Session.IdleTimeout,
		Now:         now,
		Log:         log,
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	provider := oauth.NewProvider(oauth.Options{
		Issuer:                cfg.Issuer,
		AccessTokenLifespan:   cfg.OAuth.AccessTokenLifespan,
		RefreshTokenLifespan:  cfg.OAuth.RefreshTokenLifespan,
		AuthorizeCodeLifespan: cfg.OAuth.AuthorizeCodeLifespan,
		IDTokenLifespan:       cfg.OAuth.IDTokenLifespan,
		RefreshGrace:          cfg.OAuth.RefreshGracePeriod,
		EnforcePKCE:           cfg.OAuth.EnforcePKCEForAllClients,
		Secrets:               secrets,
		JWKSCachePeriod:       cfg.OAuth.JWKSCachePeriod,
		ScopesSupported:       cfg.OAuth.AllowedScopes,
		MaxBodyBytes:          int64(cfg.HTTP.MaxBodyBytes),
		PendingLifespan:       30 * time.Minute,
	}, oauth.Deps{
		Store: st, Keys: keys, Sessions: sessions, Pages: pages,
		Metrics: oauth.NewMetrics(reg), Log: log, Now: now,
		ClientCacheTTL: cfg.OAuth.ClientCacheTTL,
	})

	s := &Server{cfg: cfg, log: log, Store: st, Provider: provider, Keys: keys, now: now}
	s.metrics = newHTTPMetrics(reg)

	r := mux.NewRouter()
	s.router = r
	r.Use(s.observe)
	provider.Mount(r)
	(&web.Login{Users: st, Sessions: sessions, Pages: pages, Log: log, CSRF: http.NewCrossOriginProtection()}).Mount(r)
	r.HandleFunc("/health/alive", func(w http.ResponseWriter, _ *http.Request) {
		writeStatus(w, http.StatusOK, "ok")
	}).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/health/ready", s.ready).Methods(http.MethodGet, http.MethodHead)
	if cfg.Metrics.Enabled {
		r.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{})).Methods(http.MethodGet)
	}
	r.PathPrefix("/static/").Handler(http.StripPrefix("/static/", staticFiles())).Methods(http.MethodGet, http.MethodHead)
	r.NotFoundHandler = s.observe(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSONStatus(w, http.StatusNotFound, `{"error":"not_found"}`)
	}))
	r.MethodNotAllowedHandler = s.observe(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSONStatus(w, http.StatusMethodNotAllowed, `{"error":"method_not_allowed"}`)
	}))
	s.Handler = withRequestID(r)
	return s, nil
}

func staticFiles() http.Handler {
	files := http.FileServerFS(static.FS)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		files.ServeHTTP(w, r)
	})
}

func writeStatus(w http.ResponseWriter, code int, status string) {
	writeJSONStatus(w, code, `{"status":"`+status+`"}`)
}

func writeJSONStatus(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(body + "\n"))
}

// ready fails while the database does not answer, so a load balancer stops
// sending traffic to a replica that cannot serve it.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.Store.Ping(ctx); err != nil {
		s.log.WarnContext(r.Context(), "readiness check failed", "err", err)
		writeStatus(w, http.StatusServiceUnavailable, "database unavailable")
		return
	}
	writeStatus(w, http.StatusOK, "ok")
}

// Run serves until ctx ends, then shuts down gracefully: in-flight requests
// finish (up to http.shutdown_timeout) before the store closes. ready, if
// not nil, receives the bound address once the listener is open.
func (s *Server) Run(ctx context.Context, ready func(addr net.Addr)) error {
	ln, err := net.Listen("tcp", s.cfg.HTTP.Address)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           s.Handler,
		ReadHeaderTimeout: s.cfg.HTTP.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.HTTP.ReadTimeout,
		WriteTimeout:      s.cfg.HTTP.WriteTimeout,
		IdleTimeout:       s.cfg.HTTP.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	bg, stopBackground := context.WithCancel(ctx)
	defer stopBackground()
	go s.Keys.Run(bg, time.Minute, func(err error) { s.log.Error("reload signing keys", "err", err) })
	go s.pruneLoop(bg)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.log.Info("portero listening", "address", ln.Addr().String(), "issuer", s.cfg.Issuer)
	if ready != nil {
		ready(ln.Addr())
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.log.Info("shutting down", "timeout", s.cfg.HTTP.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.HTTP.ShutdownTimeout)
	defer cancel()
	err = srv.Shutdown(sctx)
	if serveErr := <-errc; serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) && err == nil {
		err = serveErr
	}
	return err
}

// pruneLoop deletes expired grants and sessions in bounded batches.
func (s *Server) pruneLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.OAuth.PruneInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		const batch = 1000
		grants, err := s.Provider.Prune(ctx, batch)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("prune grants", "err", err)
		}
		var sessions int64
		for ctx.Err() == nil {
			n, err := s.Store.DeleteExpiredSessions(ctx, s.now(), batch)
			sessions += n
			if err != nil {
				s.log.Warn("prune sessions", "err", err)
				break
			}
			if n < batch {
				break
			}
		}
		if grants+sessions > 0 {
			s.log.Info("pruned expired records", "grants", grants, "sessions", sessions)
		}
	}
}

// Close releases the store.
func (s *Server) Close() error { return s.Store.Close() }
