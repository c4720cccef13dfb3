// Package server wires Portero together: the one place where the store,
// keys, sessions, pages and endpoints meet.
package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/buildinfo"
	"github.com/portero-id/portero/internal/config"
	"github.com/portero-id/portero/internal/i18n"
	"github.com/portero-id/portero/internal/legal"
	"github.com/portero-id/portero/internal/mail"
	"github.com/portero-id/portero/internal/manage"
	"github.com/portero-id/portero/internal/outbound"
	"github.com/portero-id/portero/internal/pow"
	"github.com/portero-id/portero/internal/render"
	"github.com/portero-id/portero/internal/seal"
	"github.com/portero-id/portero/internal/session"
	"github.com/portero-id/portero/internal/store"
	"github.com/portero-id/portero/internal/throttle"
	"github.com/portero-id/portero/internal/web"
	"github.com/portero-id/portero/internal/webhooks"
	"github.com/portero-id/portero/oauth"
	"github.com/portero-id/portero/static"
	"github.com/portero-id/portero/templates"
)

// Server is a configured Portero instance.
type Server struct {
	cfg   *config.Config
	log   *slog.Logger
	build buildinfo.Info
	// draining is set when shutdown begins: readiness fails from then on.
	draining atomic.Bool
	Store    *store.Store
	Provider *oauth.Provider
	Keys     *oauth.Keyring
	// Manage carries out administrators' actions (admin API, pages).
	Manage  *manage.Service
	Handler http.Handler
	// AdminHandler serves the admin API on http.admin_address; nil when
	// the admin API is on Handler.
	AdminHandler http.Handler
	// MetricsHandler serves /metrics on http.metrics_address; nil when
	// that is not set.
	MetricsHandler http.Handler
	adminRouter    *mux.Router
	// guard is sign-in's throttle (administrators lift lockouts with it).
	guard   *throttle.Guard
	router  *mux.Router
	metrics *httpMetrics
	now     func() time.Time
	redis   *redis.Client
	limits  *limits
	// networks applies the network rules (deny, allow).
	networks *networkScreen
	// webhooks delivers the ledger to webhooks.url; nil when unset.
	webhooks *webhooks.Dispatcher
	site     *web.Site
	// dataRequests serves consultas and reclamos (requests.go).
	dataRequests *dataRequests
	legal        *identity.LegalSet
}

// Legal is the habeas-data configuration in force.
func (s *Server) Legal() *identity.LegalSet { return s.legal }

// loadLegal reads the legal file (or, in dev mode without one, the example
// set) and publishes its texts. A text changed without a new version stops
// start-up: authorizations already given point to the old text.
func loadLegal(ctx context.Context, cfg *config.Config, dev bool, st *store.Store, now func() time.Time, log *slog.Logger) (*identity.LegalSet, error) {
	var (
		set *identity.LegalSet
		err error
	)
	switch {
	case cfg.Legal.File != "":
		set, err = legal.Load(cfg.Legal.File, cfg.Legal.Minors)
	case dev:
		log.Warn("dev mode: using the EXAMPLE legal texts (a fictional company); set legal.file for real ones")
		set, err = legal.Example(cfg.Legal.Minors)
	default:
		return nil, errors.New("legal.file is not set: Ley 1581 de 2012 requires the responsable's identity, the treatment policy, the privacy notice and the purposes before any personal data is processed")
	}
	if err != nil {
		return nil, err
	}
	if err := st.PublishLegalTexts(ctx, set.Published(now())); err != nil {
		if errors.Is(err, identity.ErrLegalTextChanged) {
			return nil, fmt.Errorf("%w: give the changed text a new version in the legal file", err)
		}
		return nil, fmt.Errorf("publish legal texts: %w", err)
	}
	return set, nil
}

// Option adjusts how New builds the server.
type Option func(*options)

type options struct {
	dev    bool
	mailer mail.Sender
	now    func() time.Time
	tracer trace.TracerProvider
	// webhookPoll and webhookBackoff replace the webhook dispatcher's
	// timing (tests).
	webhookPoll, webhookBackoff time.Duration
}

// Dev turns on development mode: without an SMTP relay, e-mails are logged
// and shown at /dev/mail.
func Dev() Option { return func(o *options) { o.dev = true } }

// WithMailer sends e-mail through m instead of the configured relay.
func WithMailer(m mail.Sender) Option { return func(o *options) { o.mailer = m } }

// WithTracerProvider makes spans for every request, statement and
// outbound call with tp (internal/tracing); without it none are made.
func WithTracerProvider(tp trace.TracerProvider) Option { return func(o *options) { o.tracer = tp } }

// WithWebhookTiming makes webhook delivery poll every poll and back off
// up to maxBackoff (tests of a receiver that is down).
func WithWebhookTiming(poll, maxBackoff time.Duration) Option {
	return func(o *options) { o.webhookPoll, o.webhookBackoff = poll, maxBackoff }
}

// WithClock replaces time.Now (tests of expiry and throttling).
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

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
	return openStore(ctx, cfg, log, nil)
}

func openStore(ctx context.Context, cfg *config.Config, log *slog.Logger, tp trace.TracerProvider) (*store.Store, error) {
	st, err := store.Open(ctx, store.Options{
		Tracer:          tp,
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
			return nil, errors.Join(fmt.Errorf("migrate: %w", err), st.Close())
		}
	}
	return st, nil
}

// New builds the server from a validated config. log should come from
// WithRequestIDs.
func New(ctx context.Context, cfg *config.Config, log *slog.Logger, opts ...Option) (*Server, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	st, err := openStore(ctx, cfg, log, o.tracer)
	if err != nil {
		return nil, err
	}
	s, err := NewWithStore(ctx, cfg, st, log, opts...)
	if err != nil {
		return nil, errors.Join(err, st.Close())
	}
	return s, nil
}

// NewWithStore builds the server over an open, migrated store.
func NewWithStore(ctx context.Context, cfg *config.Config, st *store.Store, log *slog.Logger, opts ...Option) (*Server, error) {
	o := options{now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	now := o.now
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

	legalSet, err := loadLegal(ctx, cfg, o.dev, st, now, log)
	if err != nil {
		return nil, err
	}

	locales, err := fs.Sub(templates.Locales, "locales")
	if err != nil {
		return nil, err
	}
	texts, err := i18n.Load(locales, "es-CO")
	if err != nil {
		return nil, err
	}
	pages, err := render.New(templates.FS, texts, log)
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
	// Every security event (sign-ins, lockouts, MFA failures, refresh
	// reuse, admin refusals…) is a ledger entry: one counter by type.
	entries := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "portero_ledger_entries_total", Help: "Ledger entries appended by this replica, by kind and type (every security event is one).",
	}, []string{"kind", "type"})
	reg.MustRegister(entries)
	st.ObserveLedger(func(kind, typ string) { entries.WithLabelValues(kind, typ).Inc() })
	build := buildinfo.Read()
	build.Register(reg)
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	outboundAllowed, err := config.ParsePrefixes(cfg.OAuth.OutboundAllowedNetworks)
	if err != nil {
		return nil, fmt.Errorf("oauth.outbound_allowed_networks: %w", err)
	}
	// Redis (when configured) holds the counters every replica shares:
	// sign-in's throttle and the rate limits.
	var redisClient *redis.Client
	if cfg.Redis.URL != "" {
		if redisClient, err = throttle.DialRedis(cfg.Redis.URL); err != nil {
			return nil, fmt.Errorf("redis.url: %w", err)
		}
	}
	lim := newLimits(cfg, redisClient, reg, log, pages)
	provider, err := oauth.NewProvider(oauth.Options{
		Issuer:                cfg.Issuer,
		AccessTokenLifespan:   cfg.OAuth.AccessTokenLifespan,
		RefreshTokenLifespan:  cfg.OAuth.RefreshTokenLifespan,
		AuthorizeCodeLifespan: cfg.OAuth.AuthorizeCodeLifespan,
		IDTokenLifespan:       cfg.OAuth.IDTokenLifespan,
		RefreshGrace:          cfg.OAuth.RefreshGracePeriod,
		EnforcePKCE:           cfg.OAuth.EnforcePKCEForAllClients,
		StoredAccessTokens:    cfg.OAuth.StoredAccessTokens,
		Secrets:               secrets,
		JWKSCachePeriod:       cfg.OAuth.JWKSCachePeriod,
		ScopesSupported:       cfg.OAuth.AllowedScopes,
		PendingLifespan:       30 * time.Minute,
		MFA:                   identity.MFAPolicy{Roles: cfg.Accounts.MFARequiredRoles},
		RegistrationToken:     cfg.Secrets.ClientRegistration,
		Outbound:              outbound.Policy{Allowed: outboundAllowed, Tracer: o.tracer},
	}, oauth.Deps{
		Store: st, Keys: keys, Sessions: sessions, Pages: pages,
		Metrics: oauth.NewMetrics(reg), Log: log, Now: now,
		ClientCacheTTL: cfg.OAuth.ClientCacheTTL,
		Legal:          legalSet,
		TokenLimit:     lim.tokenClient, IntrospectionLimit: lim.introspectionClient,
	})
	if err != nil {
		if redisClient != nil {
			_ = redisClient.Close()
		}
		return nil, fmt.Errorf("oauth provider: %w", err)
	}

	s := &Server{cfg: cfg, log: log, Store: st, Provider: provider, Keys: keys, now: now, legal: legalSet, build: build,
		redis: redisClient, limits: lim, networks: &networkScreen{store: st, pages: pages, log: log}}
	if err := s.networks.load(ctx); err != nil {
		s.closeRedis()
		return nil, fmt.Errorf("network rules: %w", err)
	}
	if s.webhooks, err = newWebhooks(cfg, st, reg, log); err != nil {
		s.closeRedis()
		return nil, err
	}
	if s.webhooks != nil && o.webhookPoll > 0 {
		s.webhooks.Poll, s.webhooks.MaxBackoff = o.webhookPoll, o.webhookBackoff
	}
	s.metrics = newHTTPMetrics(reg)

	site, err := s.newSite(cfg, issuer, o, sessions, pages, secrets)
	if err != nil {
		s.closeRedis()
		return nil, err
	}
	s.site = site

	r := mux.NewRouter()
	s.router = r
	r.Use(s.observe, lim.byAddress)
	provider.Mount(r)
	// The data-request service is the site's too: made before the site
	// mounts, which reads its dependencies once.
	s.dataRequests = s.mountDataRequests(r, reg, sessions, pages, site)
	site.Mount(r)
	r.HandleFunc("/health/alive", func(w http.ResponseWriter, _ *http.Request) {
		writeStatus(w, http.StatusOK, "ok")
	}).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/health/ready", s.ready).Methods(http.MethodGet, http.MethodHead)
	if cfg.Metrics.Enabled {
		// Off the public listener: on a listener of its own, or on the
		// admin API's internal one.
		metrics := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
		switch {
		case cfg.HTTP.MetricsAddress != "":
			mr := http.NewServeMux()
			mr.Handle("GET /metrics", metrics)
			s.MetricsHandler = mr
		case s.adminRouter != nil:
			s.adminRouter.Handle("/metrics", metrics).Methods(http.MethodGet)
		}
	}
	r.PathPrefix("/static/").Handler(http.StripPrefix("/static/", staticFiles())).Methods(http.MethodGet, http.MethodHead)
	r.NotFoundHandler = s.observe(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSONStatus(w, http.StatusNotFound, `{"error":"not_found"}`)
	}))
	r.MethodNotAllowedHandler = s.observe(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSONStatus(w, http.StatusMethodNotAllowed, `{"error":"method_not_allowed"}`)
	}))
	proxies, err := config.ParsePrefixes(cfg.HTTP.TrustedProxies)
	if err != nil {
		s.closeRedis()
		return nil, fmt.Errorf("http.trusted_proxies: %w", err)
	}
	limit := int64(cfg.HTTP.MaxBodyBytes)
	tooLarge := func(w http.ResponseWriter, r *http.Request) {
		// The answer in the format of whoever asked: a page for a browser,
		// an RFC 6749-style JSON error for everything else.
		if strings.Contains(r.Header.Get("Accept"), "text/html") {
			pages.Error(w, r, http.StatusRequestEntityTooLarge, "request_too_large", "error.too_large")
			return
		}
		writeJSONStatus(w, http.StatusRequestEntityTooLarge,
			fmt.Sprintf(`{"error":"invalid_request","error_description":"The request body is larger than %d bytes."}`, limit))
	}
	deadline := cfg.HTTP.WriteTimeout
	s.Handler = traced(o.tracer, withRequestContext(deadline, withClientAddr(proxies, s.networks.screen(limitBodies(limit, tooLarge, r)))))
	if s.adminRouter != nil {
		s.AdminHandler = traced(o.tracer, withRequestContext(deadline, withClientAddr(proxies, s.networks.screen(limitBodies(limit, tooLarge, s.adminRouter)))))
	}
	return s, nil
}

// newSite builds the browser pages and their guards: the throttle (Redis
// when configured, so that replicas share counters), the mailer, the
// TOTP secret box and the WebAuthn relying party.
func (s *Server) newSite(cfg *config.Config, issuer *url.URL, o options, sessions *session.Manager,
	pages *render.Renderer, secrets [][]byte) (*web.Site, error) {
	var counters throttle.Store = throttle.NewMemory(100_000)
	if s.redis != nil {
		counters = throttle.NewRedis(s.redis, cfg.Redis.KeyPrefix+"throttle:")
	}
	guard := &throttle.Guard{Store: counters, Account: throttlePolicy(cfg.Throttle.Account), IP: throttlePolicy(cfg.Throttle.IP), Now: o.now}
	s.guard = guard
	var stuffing *web.StuffingWatch
	if s.limits.stuffingFailures != nil {
		stuffing = &web.StuffingWatch{Failures: s.limits.stuffingFailures, SuspectFor: stuffingSuspectFor, Now: o.now,
			PoW: &pow.Issuer{Key: oauth.DeriveKey(secrets[0], "proof of work"), Bits: stuffingWorkBits, TTL: 5 * time.Minute, Now: o.now}}
	}

	mailer, devMail := o.mailer, (*mail.Dev)(nil)
	switch {
	case mailer != nil:
	case cfg.Mail.SMTPAddress != "":
		mailer = &mail.SMTP{Address: cfg.Mail.SMTPAddress, From: cfg.Mail.From, Username: cfg.Mail.Username,
			Password: cfg.Mail.Password, Timeout: 10 * time.Second}
	case o.dev:
		devMail = &mail.Dev{Log: s.log}
		mailer = devMail
	}
	if d, ok := mailer.(*mail.Dev); ok {
		devMail = d
	}

	totpBox, err := seal.New(seal.PurposeTOTP, secrets...)
	if err != nil {
		return nil, err
	}
	var recoveryKeys [][]byte
	for _, sec := range secrets {
		recoveryKeys = append(recoveryKeys, oauth.DeriveKey(sec, "recovery codes"))
	}
	var wa *webauthn.WebAuthn
	if net.ParseIP(issuer.Hostname()) == nil {
		wa, err = webauthn.New(&webauthn.Config{
			RPID:          issuer.Hostname(),
			RPDisplayName: cfg.Accounts.WebAuthnRPName,
			RPOrigins:     []string{issuer.Scheme + "://" + issuer.Host},
		})
		if err != nil {
			return nil, fmt.Errorf("webauthn: %w", err)
		}
	} else {
		s.log.Warn("passkeys are off: WebAuthn needs a domain name in the issuer, not an IP address", "issuer", cfg.Issuer)
	}
	hasher, mfa := PasswordHasher(cfg), identity.MFAPolicy{Roles: cfg.Accounts.MFARequiredRoles}
	return &web.Site{
		Opts: web.Options{
			Issuer:              cfg.Issuer,
			SignupEnabled:       cfg.Accounts.SignupEnabled,
			MailEnabled:         mailer != nil,
			DefaultRoles:        cfg.Accounts.DefaultRoles,
			MFA:                 mfa,
			VerifyEmailLifespan: cfg.Accounts.VerifyEmailLifespan,
			ResetLifespan:       cfg.Accounts.ResetPasswordLifespan,
			RPName:              cfg.Accounts.WebAuthnRPName,
			Dev:                 o.dev,
		},
		Store:    s.Store,
		Sessions: sessions,
		Pages:    pages,
		Log:      s.log,
		CSRF:     http.NewCrossOriginProtection(),
		Throttle: guard,
		SignIn: &identity.SignIn{Store: s.Store, Guard: guard, Hasher: hasher, MFA: mfa, TOTPSeal: totpBox,
			RecoveryKeys: recoveryKeys, Passkeys: wa != nil, Log: s.log, Now: o.now},
		Hasher:       hasher,
		Policy:       identity.PasswordPolicy{MinLength: cfg.Accounts.PasswordMinLength},
		TOTPSeal:     totpBox,
		Stuffing:     stuffing,
		RecoveryKeys: recoveryKeys,
		WebAuthn:     wa,
		Mail:         mailer,
		Legal:        s.legal,
		Logout:       s.Provider,
		DevMail:      devMail,
		Now:          o.now,
	}, nil
}

// PasswordHasher hashes with the configured argon2id cost. config.Validate
// bounds the three values to what argon2's parameter types hold.
func PasswordHasher(cfg *config.Config) *identity.PasswordHasher {
	return &identity.PasswordHasher{Params: identity.Argon2Params{
		MemoryKiB:   uint32(cfg.Accounts.Argon2MemoryKiB),  // #nosec G115 -- at most 4 GiB (config.Validate)
		Iterations:  uint32(cfg.Accounts.Argon2Iterations), // #nosec G115 -- at most 1000 (config.Validate)
		Parallelism: uint8(cfg.Accounts.Argon2Parallelism), // #nosec G115 -- 1 to 255 (config.Validate)
	}}
}

func throttlePolicy(p config.ThrottlePolicy) throttle.Policy {
	return throttle.Policy{FreeAttempts: p.FreeAttempts, BaseDelay: p.BaseDelay, MaxDelay: p.MaxDelay,
		LockoutAfter: p.LockoutAfter, LockoutFor: p.LockoutFor, Window: p.Window}
}

func (s *Server) closeRedis() {
	if s.redis != nil {
		_ = s.redis.Close()
	}
}

func staticFiles() http.Handler {
	files := http.FileServerFS(static.FS)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Files only: no directory listings (they tell what is deployed).
		if info, err := fs.Stat(static.FS, strings.TrimPrefix(r.URL.Path, "/")); r.URL.Path == "" || strings.HasSuffix(r.URL.Path, "/") || err != nil || info.IsDir() {
			writeJSONStatus(w, http.StatusNotFound, `{"error":"not_found"}`)
			return
		}
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

// ready fails while the database (or Redis, when configured) does not
// answer and while the replica drains before shutting down, so that a load
// balancer stops sending traffic to a replica that cannot, or soon will
// not, serve it.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	if s.draining.Load() {
		writeStatus(w, http.StatusServiceUnavailable, "draining")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.Store.Ping(ctx); err != nil {
		s.log.WarnContext(r.Context(), "readiness check failed", "err", err)
		writeStatus(w, http.StatusServiceUnavailable, "database unavailable")
		return
	}
	if s.redis != nil {
		// With redis.url set, sign-ins meter guesses there and fail closed
		// without it: a replica that cannot reach it cannot sign anyone in.
		if err := s.redis.Ping(ctx).Err(); err != nil {
			s.log.WarnContext(r.Context(), "readiness check failed: redis", "err", err)
			writeStatus(w, http.StatusServiceUnavailable, "redis unavailable")
			return
		}
	}
	writeStatus(w, http.StatusOK, "ok")
}

// Run serves until ctx ends, then shuts down gracefully: in-flight requests
// finish (up to http.shutdown_timeout) before the store closes. ready, if
// not nil, receives the bound address once the listener is open.
func (s *Server) Run(ctx context.Context, ready func(addr net.Addr)) error {
	type listener struct {
		addr, name string
		handler    http.Handler
		ln         net.Listener
	}
	listeners := []listener{{addr: s.cfg.HTTP.Address, name: "portero listening", handler: s.Handler}}
	if s.AdminHandler != nil {
		listeners = append(listeners, listener{addr: s.cfg.HTTP.AdminAddress, name: "admin API listening", handler: s.AdminHandler})
	}
	if s.MetricsHandler != nil {
		listeners = append(listeners, listener{addr: s.cfg.HTTP.MetricsAddress, name: "metrics listening", handler: s.MetricsHandler})
	}
	for i := range listeners {
		ln, err := net.Listen("tcp", listeners[i].addr)
		if err != nil {
			for _, l := range listeners[:i] {
				err = errors.Join(err, l.ln.Close())
			}
			return err
		}
		listeners[i].ln = ln
	}
	bg, stopBackground := context.WithCancel(ctx)
	defer stopBackground()
	go s.Keys.Run(bg, config.KeyReloadInterval, func(err error) { s.log.Error("reload signing keys", "err", err) })
	go s.FollowChanges(bg)
	go s.pollRevocations(bg)
	go s.networks.run(bg)
	go s.DeliverWebhooks(bg)
	go s.pruneLoop(bg)
	go s.dataRequestsLoop(bg)

	errc := make(chan error, len(listeners))
	servers := make([]*http.Server, len(listeners))
	for i, l := range listeners {
		servers[i] = &http.Server{
			Handler:           l.handler,
			ReadHeaderTimeout: s.cfg.HTTP.ReadHeaderTimeout,
			ReadTimeout:       s.cfg.HTTP.ReadTimeout,
			WriteTimeout:      s.cfg.HTTP.WriteTimeout,
			IdleTimeout:       s.cfg.HTTP.IdleTimeout,
			ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
			BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		}
		go func() { errc <- servers[i].Serve(l.ln) }()
		s.log.Info(l.name, "address", l.ln.Addr().String(), "issuer", s.cfg.Issuer, "version", s.build.Version, "commit", s.build.Commit)
	}
	if ready != nil {
		ready(listeners[0].ln.Addr())
	}
	var err error
	pending := len(servers)
	select {
	case err = <-errc:
		pending--
	case <-ctx.Done():
		s.drain()
	}
	s.log.Info("shutting down", "timeout", s.cfg.HTTP.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.HTTP.ShutdownTimeout)
	defer cancel()
	for _, srv := range servers {
		if serr := srv.Shutdown(sctx); serr != nil && err == nil {
			err = serr
		}
	}
	// Mail queued by the last requests still goes out.
	s.WaitBackground()
	for range pending {
		if serr := <-errc; err == nil && !errors.Is(serr, http.ErrServerClosed) {
			err = serr
		}
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// FollowChanges keeps this replica's caches (clients and their secrets,
// the role catalog, the signing keys, the network rules) in step with
// changes made anywhere:
// on PostgreSQL it listens to the changes the database announces
// (store.ListenChanges) until ctx ends; on SQLite, a single process, it
// returns at once. Run starts it.
func (s *Server) FollowChanges(ctx context.Context) {
	reloadKeys := func() {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := s.Keys.Reload(rctx); err != nil {
			s.log.Error("reload signing keys", "err", err)
		}
	}
	resync := func() {
		s.Provider.ForgetCaches()
		reloadKeys()
		s.networks.reload()
	}
	apply := func(payload string) {
		switch {
		case strings.HasPrefix(payload, "clients:"):
			s.Provider.InvalidateClient(strings.TrimPrefix(payload, "clients:"))
		case payload == "signing_keys":
			reloadKeys()
		case payload == "network_rules":
			s.networks.reload()
		case payload == "token_revocations":
			s.refreshRevocations(ctx)
		default: // roles, role_includes, role_permissions
			s.Provider.ForgetRoleCatalog()
		}
	}
	// It returns store.ErrNoChanges on SQLite, else when ctx ends: either
	// way there is nothing more to follow.
	_ = s.Store.ListenChanges(ctx, resync, apply, func(err error) {
		s.log.Warn("change notifications interrupted; reconnecting", "err", err)
	})
}

// refreshRevocations loads the revocation rules added since the last
// load. On failure the set keeps what it has: while the database is down
// nobody can add a rule, and tokens keep validating; the next poll, or the
// full reload when the announcements resume, catches up.
func (s *Server) refreshRevocations(ctx context.Context) {
	rs := s.Provider.Revocations()
	if rs == nil {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := rs.Refresh(rctx); err != nil && ctx.Err() == nil {
		s.log.Warn("reload token revocations", "err", err)
	}
}

// revocationPollInterval bounds how long a revocation another process
// made can go unseen when no announcement reaches this replica: SQLite
// has none (a CLI beside the server), and a PostgreSQL listener can be
// down between reconnects.
const revocationPollInterval = 2 * time.Second

// pollRevocations refreshes the revocation set now and then: one indexed
// query, nothing when no rule was added.
func (s *Server) pollRevocations(ctx context.Context) {
	if s.Provider.Revocations() == nil {
		return
	}
	every(ctx, revocationPollInterval, func() { s.refreshRevocations(ctx) })
}

// every runs fn every interval until ctx ends: the background loops'
// one ticker.
func every(ctx context.Context, interval time.Duration, fn func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}

// drain fails readiness and keeps serving for http.drain_period: the load
// balancer takes the replica out of rotation before its listener closes,
// so no request is sent to a closed port.
func (s *Server) drain() {
	s.draining.Store(true)
	if d := s.cfg.HTTP.DrainPeriod; d > 0 {
		s.log.Info("draining: readiness fails, requests are still served", "period", d.String())
		time.Sleep(d)
	}
}

// pruneLoop deletes expired grants and sessions in bounded batches.
func (s *Server) pruneLoop(ctx context.Context) {
	every(ctx, s.cfg.OAuth.PruneInterval, func() { s.prune(ctx) })
}

// prune is one round of pruneLoop.
func (s *Server) prune(ctx context.Context) {
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
	tokens, err := s.Store.DeleteExpiredOneTimeTokens(ctx, s.now(), batch)
	if err != nil && ctx.Err() == nil {
		s.log.Warn("prune one-time tokens", "err", err)
	}
	if grants+sessions+tokens > 0 {
		s.log.Info("pruned expired records", "grants and revocation rules", grants, "sessions", sessions, "one_time_tokens", tokens)
	}
}

// WaitBackground blocks until work started after the responses (e-mail,
// back-channel logout tokens) has finished.
func (s *Server) WaitBackground() {
	s.site.Wait()
	s.Provider.WaitBackchannel()
}

// Close releases the store and the Redis client.
func (s *Server) Close() error {
	s.closeRedis()
	return s.Store.Close()
}
