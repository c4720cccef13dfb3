// Package config loads Portero's configuration: defaults, then a strict YAML
// file (with ${VAR} expansion), then PORTERO_* environment overrides, and
// validates the result, reporting every problem at once.
//
// Typical use:
//
//	path, ok := config.Resolve(*configFlag)
//	if !ok {
//		return fmt.Errorf("config file %s does not exist", path)
//	}
//	cfg, err := config.Load(path, os.Environ())
//	if err != nil {
//		return err
//	}
//	if dev {
//		if err := cfg.PrepareDev(logger); err != nil {
//			return err
//		}
//	}
//	if err := cfg.Validate(dev); err != nil {
//		return err
//	}
package config

import (
	"encoding/json"
	"log/slog"
	"os"
	"strconv"
	"time"
)

// DefaultPath is the configuration file used when no --config flag is given
// and the file exists in the working directory.
const DefaultPath = "portero.yaml"

// EnvPrefix starts the name of every environment override: the key path
// upper-cased with dots turned into underscores, e.g. database.url is
// PORTERO_DATABASE_URL.
const EnvPrefix = "PORTERO_"

// Config is Portero's whole configuration. Every leaf field has a yaml tag;
// its key path (e.g. "http.address") names it in the file, in error messages
// and, through EnvName, in the environment.
type Config struct {
	// Issuer is the OAuth2/OIDC issuer identifier: an absolute URL without
	// query or fragment (and without a trailing slash). https is required,
	// except that http on a loopback host is accepted in dev mode.
	Issuer string `yaml:"issuer"`
	// HTTP configures the HTTP listener.
	HTTP HTTP `yaml:"http"`
	// Database selects and tunes the SQL database.
	Database Database `yaml:"database"`
	// Secrets holds the system secret and the previous ones during rotation.
	Secrets Secrets `yaml:"secrets"`
	// OAuth configures token lifespans and OAuth2 policy.
	OAuth OAuth `yaml:"oauth"`
	// Session configures browser sessions.
	Session Session `yaml:"session"`
	// Accounts configures sign-up, passwords and second factors.
	Accounts Accounts `yaml:"accounts"`
	// Throttle configures brute-force protection of sign-in.
	Throttle Throttle `yaml:"throttle"`
	// RateLimits meters requests per endpoint class.
	RateLimits RateLimits `yaml:"rate_limits"`
	// Redis, when configured, holds state shared between replicas.
	Redis Redis `yaml:"redis"`
	// Mail configures outgoing e-mail.
	Mail Mail `yaml:"mail"`
	// Legal configures the habeas-data texts and rules.
	Legal Legal `yaml:"legal"`
	// Log configures the process logger.
	Log Log `yaml:"log"`
	// Metrics configures Prometheus metrics.
	Metrics Metrics `yaml:"metrics"`
	// Tracing configures OpenTelemetry tracing.
	Tracing Tracing `yaml:"tracing"`
	// Webhooks delivers the ledger's events to a receiver (a SIEM).
	Webhooks Webhooks `yaml:"webhooks"`

	// sources records where each key path got its value from, e.g.
	// "portero.yaml:12" or "PORTERO_ISSUER", so that validation errors can
	// say where to fix the value. Keys that kept their default are absent.
	sources map[string]string
}

// HTTP configures the HTTP listener.
type HTTP struct {
	// Address is the listen address in host:port form; ":8080" listens on
	// every interface.
	Address string `yaml:"address"`
	// ReadHeaderTimeout bounds reading a request's headers.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// ReadTimeout bounds reading a whole request, body included.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// WriteTimeout bounds writing a response.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// IdleTimeout is how long a keep-alive connection may stay idle.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// ShutdownTimeout is how long a graceful shutdown waits for in-flight
	// requests before closing connections.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// DrainPeriod is how long, after SIGTERM, /health/ready fails while
	// requests are still served, so that load balancers stop sending new
	// ones before the listener closes. 0 shuts down at once.
	DrainPeriod time.Duration `yaml:"drain_period"`
	// MaxBodyBytes caps the size of a request body.
	MaxBodyBytes int `yaml:"max_body_bytes"`
	// TrustedProxies lists the addresses (IPs or CIDR ranges) of reverse
	// proxies whose X-Forwarded-For is believed: the client address is
	// the right-most one not in this list. Empty: the peer address is the
	// client (throttling, audit and sessions use it).
	TrustedProxies []string `yaml:"trusted_proxies"`
	// AdminAddress, when set, is a second listener that alone serves the
	// admin API (/admin/v1), e.g. an address on an internal network; the
	// public listener then answers 404 there. Empty: the admin API is on
	// http.address (still behind admin tokens). The admin pages stay on
	// the issuer's address, where the session cookie is.
	AdminAddress string `yaml:"admin_address"`
	// MetricsAddress, when set, is a listener that serves only /metrics
	// (e.g. 127.0.0.1:9464, or an address a Prometheus on the internal
	// network scrapes). Empty: /metrics is on http.admin_address when that
	// is set, and otherwise not served. Never on http.address: the series
	// tell an outsider too much (queue sizes, failure rates).
	MetricsAddress string `yaml:"metrics_address"`
}

// Database selects and tunes the SQL database.
type Database struct {
	// URL is a PostgreSQL URL (postgres:// or postgresql://); empty means
	// the embedded SQLite database at SQLitePath.
	URL string `yaml:"url"`
	// SQLitePath is the SQLite database file used when URL is empty. Its
	// directory also holds the development system secret (see PrepareDev).
	SQLitePath string `yaml:"sqlite_path"`
	// MaxOpenConns caps the open connections of this replica's pool.
	MaxOpenConns int `yaml:"max_open_conns"`
	// MaxIdleConns caps the idle connections kept in the pool; at most
	// MaxOpenConns; 0 keeps as many as MaxOpenConns (so that lowering
	// MaxOpenConns alone is enough).
	MaxIdleConns int `yaml:"max_idle_conns"`
	// ConnMaxLifetime recycles connections older than this; 0 keeps them
	// forever.
	ConnMaxLifetime time.Duration `yaml:"conn_max_lifetime"`
	// MigrateOnStart applies pending migrations when serve starts; turn it
	// off to run "portero migrate" as a separate deployment step.
	MigrateOnStart bool `yaml:"migrate_on_start"`
}

// Secrets holds the system secret. Its String, GoString, LogValue,
// MarshalJSON and MarshalYAML methods redact the values, so that printing,
// logging or dumping a Config never leaks them.
type Secrets struct {
	// System is the system secret (at least 32 characters), from which
	// token HMAC keys and cookie keys are derived and with which signing
	// keys are encrypted at rest. Inject it with ${VAR} or
	// PORTERO_SECRETS_SYSTEM rather than writing it in the file.
	System string `yaml:"system"`
	// SystemOld lists previous system secrets, still accepted for
	// decryption and HMAC verification while a rotation is in progress.
	SystemOld []string `yaml:"system_old"`
	// ClientRegistration is the initial access token of dynamic client
	// registration (RFC 7591): whoever presents it may register clients.
	// Empty turns registration off.
	ClientRegistration string `yaml:"client_registration"`
	// Webhooks are the signing secrets of webhook deliveries
	// (Standard Webhooks "whsec_" secrets); every one signs each delivery,
	// so a receiver can move to a new one before the old one is dropped.
	Webhooks []string `yaml:"webhooks"`
}

// OAuth configures token lifespans and OAuth2 policy.
type OAuth struct {
	// AccessTokenLifespan is how long an access token is valid.
	AccessTokenLifespan time.Duration `yaml:"access_token_lifespan"`
	// RefreshTokenLifespan is how long a refresh token is valid.
	RefreshTokenLifespan time.Duration `yaml:"refresh_token_lifespan"`
	// AuthorizeCodeLifespan is how long an authorization code is valid
	// (at most 10m, as RFC 6749 section 4.1.2 recommends).
	AuthorizeCodeLifespan time.Duration `yaml:"authorize_code_lifespan"`
	// IDTokenLifespan is how long an ID token is valid.
	IDTokenLifespan time.Duration `yaml:"id_token_lifespan"`
	// RefreshGracePeriod is the window after a refresh token was rotated in
	// which presenting it again returns the same result instead of revoking
	// the token family (concurrent refreshes from flaky clients); 0
	// disables it, at most 1m.
	RefreshGracePeriod time.Duration `yaml:"refresh_grace_period"`
	// EnforcePKCEForAllClients requires PKCE for confidential clients too,
	// not only for public ones.
	EnforcePKCEForAllClients bool `yaml:"enforce_pkce_for_all_clients"`
	// StoredAccessTokens keeps a database row for every access token.
	// Off (the default), client-credentials JWT access tokens have none:
	// issuing one writes nothing, validating one reads nothing, and
	// revocation goes through the revocation set. Opaque tokens and the
	// tokens of the code flow are stored either way.
	StoredAccessTokens bool `yaml:"stored_access_tokens"`
	// JWKSCachePeriod is how long verifiers may cache the JWKS
	// (Cache-Control max-age); a rotated key starts signing only after this
	// period, so every verifier has seen it.
	JWKSCachePeriod time.Duration `yaml:"jwks_cache_period"`
	// ClientCacheTTL is how long a replica caches a client's registration;
	// 0 disables the cache.
	ClientCacheTTL time.Duration `yaml:"client_cache_ttl"`
	// PruneInterval is how often expired tokens, codes and sessions are
	// pruned.
	PruneInterval time.Duration `yaml:"prune_interval"`
	// AllowedScopes lists the scopes clients may be granted; it must
	// include openid. portero:admin:read and portero:admin:write open
	// the admin API (to holders of the admin role).
	AllowedScopes []string `yaml:"allowed_scopes"`
	// OutboundAllowedNetworks lists the non-public networks (IPs or CIDR
	// ranges) that URLs Portero itself calls (clients' back-channel
	// logout URIs) may reach. Empty: public addresses only, so that a
	// registered URL cannot aim Portero at its own host or private
	// network. For development, e.g. [127.0.0.0/8, ::1].
	OutboundAllowedNetworks []string `yaml:"outbound_allowed_networks"`
}

// Session configures browser sessions.
type Session struct {
	// Lifespan is the absolute lifetime of a browser session, however
	// active it is.
	Lifespan time.Duration `yaml:"lifespan"`
	// IdleTimeout ends a session after this long without activity; at
	// most Lifespan.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// CookieName is the name of the session cookie.
	CookieName string `yaml:"cookie_name"`
}

// Accounts configures end-user accounts.
type Accounts struct {
	// SignupEnabled shows the sign-up page.
	SignupEnabled bool `yaml:"signup_enabled"`
	// DefaultRoles are given to users who sign up.
	DefaultRoles []string `yaml:"default_roles"`
	// MFARequiredRoles lists the roles whose users must use a second
	// factor; such a user without one enrols right after password sign-in.
	MFARequiredRoles []string `yaml:"mfa_required_roles"`
	// PasswordMinLength is the minimum password length in characters
	// (NIST SP 800-63B: at least 8; 12 by default). No composition rules.
	PasswordMinLength int `yaml:"password_min_length"`
	// Argon2MemoryKiB is argon2id's memory cost (OWASP: 19456 KiB with 2
	// iterations). Hashes made with other parameters are upgraded at the
	// user's next sign-in.
	Argon2MemoryKiB int `yaml:"argon2_memory_kib"`
	// Argon2Iterations is argon2id's time cost.
	Argon2Iterations int `yaml:"argon2_iterations"`
	// Argon2Parallelism is argon2id's parallelism (lanes).
	Argon2Parallelism int `yaml:"argon2_parallelism"`
	// VerifyEmailLifespan is how long an e-mail verification link works.
	VerifyEmailLifespan time.Duration `yaml:"verify_email_lifespan"`
	// ResetPasswordLifespan is how long a password reset link works.
	ResetPasswordLifespan time.Duration `yaml:"reset_password_lifespan"`
	// WebAuthnRPName is the name authenticators show for Portero.
	WebAuthnRPName string `yaml:"webauthn_rp_name"`
}

// Throttle configures per-account and per-IP sign-in throttling.
type Throttle struct {
	// Account limits failures per account (per login name typed).
	Account ThrottlePolicy `yaml:"account"`
	// IP limits failures per client IP address; looser, since many users
	// may share one address.
	IP ThrottlePolicy `yaml:"ip"`
}

// RateLimits are the request budgets of each endpoint class: a client,
// an address (IPv6 by /64) or an administrator that spends its budget gets
// 429 with Retry-After until it refills. Shared through Redis when
// redis.url is set; per replica otherwise, and when Redis is down.
type RateLimits struct {
	// Enabled turns every limit on or off.
	Enabled bool `yaml:"enabled"`
	// TokenPerClient is each client's budget at the token endpoint,
	// counted once it has authenticated.
	TokenPerClient RateLimit `yaml:"token_per_client"`
	// IntrospectionPerClient is each resource server's budget at the
	// introspection endpoint.
	IntrospectionPerClient RateLimit `yaml:"introspection_per_client"`
	// OAuthPerAddress is each address's budget at the token,
	// introspection, revocation and userinfo endpoints, before any
	// authentication (guessed secrets and floods of bad requests).
	OAuthPerAddress RateLimit `yaml:"oauth_per_address"`
	// PagesPerAddress is each address's budget at the authorization
	// endpoint and the sign-in, sign-up, password-reset, verification and
	// logout pages.
	PagesPerAddress RateLimit `yaml:"pages_per_address"`
	// RegistrationPerAddress is each address's budget at dynamic client
	// registration.
	RegistrationPerAddress RateLimit `yaml:"registration_per_address"`
	// AdminPerPrincipal is each administrator's (or admin client's)
	// budget at the admin API, and each address's before it
	// authenticates.
	AdminPerPrincipal RateLimit `yaml:"admin_per_principal"`
}

// RateLimit is Requests per Per on average, with bursts of Burst.
type RateLimit struct {
	// Requests per Per; 0 turns this limit off.
	Requests int `yaml:"requests"`
	// Per is the period of Requests.
	Per time.Duration `yaml:"per"`
	// Burst is how many requests may come at once on a full budget.
	Burst int `yaml:"burst"`
}

// ThrottlePolicy is exponential back-off with a temporary lockout.
type ThrottlePolicy struct {
	// FreeAttempts failures are allowed before any delay.
	FreeAttempts int `yaml:"free_attempts"`
	// BaseDelay is the first delay; it doubles with every further failure.
	BaseDelay time.Duration `yaml:"base_delay"`
	// MaxDelay caps the delay.
	MaxDelay time.Duration `yaml:"max_delay"`
	// LockoutAfter failures lock the key for LockoutFor.
	LockoutAfter int `yaml:"lockout_after"`
	// LockoutFor is how long a lockout lasts.
	LockoutFor time.Duration `yaml:"lockout_for"`
	// Window forgets failures older than this.
	Window time.Duration `yaml:"window"`
}

// Legal configures what Ley 1581 de 2012 requires Portero to show and ask.
type Legal struct {
	// File is the legal YAML file: the responsable (name, NIT, address,
	// e-mail, phone), the treatment policy and privacy notice (Markdown or
	// HTML files per language, with versions) and the purposes. Required
	// outside dev mode; serve --dev uses an example set without it.
	File string `yaml:"file"`
	// Minors decides what happens when a minor signs up: "representative"
	// (a legal representative authorizes, recorded as the actor) or
	// "refuse".
	Minors string `yaml:"minors"`
	// ExtraHolidays are Colombian public holidays beyond those the law
	// fixes today (Congress adds some), as "YYYY-MM-DD" or "YYYY-MM-DD
	// Name"; the business-day deadlines of data-subject requests and
	// incidents skip them.
	ExtraHolidays []string `yaml:"extra_holidays"`
}

// Redis configures the optional Redis server.
type Redis struct {
	// URL of the Redis server (redis://host:port/db); empty keeps shared
	// state in memory (one replica).
	URL string `yaml:"url"`
	// KeyPrefix starts every key Portero writes, so that several
	// installations can share one Redis server.
	KeyPrefix string `yaml:"key_prefix"`
}

// Mail configures the SMTP relay for verification and reset links.
type Mail struct {
	// SMTPAddress is host:port of the relay. Empty: in dev mode messages
	// are logged and shown at /dev/mail; otherwise sign-up and password
	// reset are off (they need e-mail).
	SMTPAddress string `yaml:"smtp_address"`
	// From is the sender address.
	From string `yaml:"from"`
	// Username authenticates to the relay (PLAIN, over TLS only).
	Username string `yaml:"username"`
	// Password authenticates to the relay; use ${VAR} to keep it out of
	// the file.
	Password string `yaml:"password"`
}

// Log configures the process logger.
type Log struct {
	// Level is the minimum level logged: debug, info, warn or error.
	Level string `yaml:"level"`
	// Format is json or text; empty means json, or text in dev mode.
	Format string `yaml:"format"`
}

// Metrics configures Prometheus metrics.
type Metrics struct {
	// Enabled exposes Prometheus metrics.
	Enabled bool `yaml:"enabled"`
}

// Tracing configures OpenTelemetry tracing: spans for every HTTP request,
// storage statement and outbound call, exported over OTLP/HTTP.
type Tracing struct {
	// Endpoint is the OTLP/HTTP traces URL of a collector, e.g.
	// http://otel-collector:4318/v1/traces. Empty: tracing is off.
	Endpoint string `yaml:"endpoint"`
	// SamplePercent is the share of new traces recorded (0 to 100); a
	// request that arrives with a sampled W3C traceparent is always
	// recorded.
	SamplePercent int `yaml:"sample_percent"`
}

// Webhooks delivers every ledger entry (security events, consents,
// data-subject requests, admin actions) to a receiver, signed as Standard
// Webhooks prescribes with secrets.webhooks, in order, at least once.
type Webhooks struct {
	// URL receives the events; "" turns delivery off. https, or http on a
	// loopback address.
	URL string `yaml:"url"`
	// Kinds are the ledger kinds delivered (audit, consent, request,
	// admin); empty delivers every kind.
	Kinds []string `yaml:"kinds"`
}

// KeyReloadInterval is how often a replica reloads the signing keys even
// without a change notification; oauth.jwks_cache_period may not be
// shorter.
const KeyReloadInterval = time.Minute

// Defaults returns a new Config holding every default value. The issuer
// default (http://localhost:8080) and the empty system secret are only
// acceptable in dev mode.
func Defaults() *Config {
	return &Config{
		Issuer: "http://localhost:8080",
		HTTP: HTTP{
			Address:           ":8080",
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       15 * time.Second,
			WriteTimeout:      15 * time.Second,
			IdleTimeout:       60 * time.Second,
			ShutdownTimeout:   15 * time.Second,
			DrainPeriod:       5 * time.Second,
			MaxBodyBytes:      64 << 10,
			TrustedProxies:    []string{},
		},
		Database: Database{
			URL:             "",
			SQLitePath:      "./data/portero.db",
			MaxOpenConns:    32,
			MaxIdleConns:    0,
			ConnMaxLifetime: 30 * time.Minute,
			MigrateOnStart:  true,
		},
		Secrets: Secrets{
			System:    "",
			SystemOld: []string{},
			Webhooks:  []string{},
		},
		OAuth: OAuth{
			AccessTokenLifespan:      15 * time.Minute,
			RefreshTokenLifespan:     720 * time.Hour,
			AuthorizeCodeLifespan:    5 * time.Minute,
			IDTokenLifespan:          time.Hour,
			RefreshGracePeriod:       5 * time.Second,
			EnforcePKCEForAllClients: true,
			JWKSCachePeriod:          10 * time.Minute,
			ClientCacheTTL:           30 * time.Second,
			PruneInterval:            10 * time.Minute,
			AllowedScopes:            []string{"openid", "offline_access", "profile", "email", "roles", "portero:admin:read", "portero:admin:write"},
			OutboundAllowedNetworks:  []string{},
		},
		Session: Session{
			Lifespan:    24 * time.Hour,
			IdleTimeout: 2 * time.Hour,
			CookieName:  "portero_session",
		},
		Accounts: Accounts{
			SignupEnabled:         true,
			DefaultRoles:          []string{"customer"},
			MFARequiredRoles:      []string{"admin", "super_admin", "vendor"},
			PasswordMinLength:     12,
			Argon2MemoryKiB:       19456,
			Argon2Iterations:      2,
			Argon2Parallelism:     1,
			VerifyEmailLifespan:   24 * time.Hour,
			ResetPasswordLifespan: 30 * time.Minute,
			WebAuthnRPName:        "Portero",
		},
		Throttle: Throttle{
			Account: ThrottlePolicy{FreeAttempts: 3, BaseDelay: time.Second, MaxDelay: 15 * time.Minute,
				LockoutAfter: 10, LockoutFor: 15 * time.Minute, Window: time.Hour},
			IP: ThrottlePolicy{FreeAttempts: 20, BaseDelay: time.Second, MaxDelay: 5 * time.Minute,
				LockoutAfter: 100, LockoutFor: 15 * time.Minute, Window: time.Hour},
		},
		Redis: Redis{URL: "", KeyPrefix: "portero:"},
		Legal: Legal{File: "", Minors: "representative", ExtraHolidays: []string{}},
		Mail:  Mail{SMTPAddress: "", From: "Portero <no-reply@localhost>", Username: "", Password: ""},
		Log: Log{
			Level:  "info",
			Format: "",
		},
		Metrics: Metrics{
			Enabled: true,
		},
		Tracing: Tracing{
			SamplePercent: 100,
		},
		Webhooks: Webhooks{Kinds: []string{}},
		RateLimits: RateLimits{
			Enabled:                true,
			TokenPerClient:         RateLimit{Requests: 600, Per: time.Minute, Burst: 100},
			IntrospectionPerClient: RateLimit{Requests: 6000, Per: time.Minute, Burst: 1000},
			OAuthPerAddress:        RateLimit{Requests: 1200, Per: time.Minute, Burst: 300},
			PagesPerAddress:        RateLimit{Requests: 120, Per: time.Minute, Burst: 60},
			RegistrationPerAddress: RateLimit{Requests: 10, Per: time.Hour, Burst: 5},
			AdminPerPrincipal:      RateLimit{Requests: 600, Per: time.Minute, Burst: 100},
		},
	}
}

// Resolve returns the configuration file to load: flagPath if it is given
// (ok is false when it does not name an existing file), else DefaultPath if
// it exists, else "" which Load treats as defaults plus environment.
func Resolve(flagPath string) (path string, ok bool) {
	if flagPath != "" {
		fi, err := os.Stat(flagPath)
		return flagPath, err == nil && !fi.IsDir()
	}
	if fi, err := os.Stat(DefaultPath); err == nil && !fi.IsDir() {
		return DefaultPath, true
	}
	return "", true
}

const redacted = "[redacted]"

// String redacts the secrets.
func (s Secrets) String() string {
	return "{System:" + redactedIfSet(s.System) + " SystemOld:[" + strconv.Itoa(len(s.SystemOld)) + " redacted]" +
		" ClientRegistration:" + redactedIfSet(s.ClientRegistration) +
		" Webhooks:[" + strconv.Itoa(len(s.Webhooks)) + " redacted]}"
}

// GoString redacts the secrets from %#v.
func (s Secrets) GoString() string { return "config.Secrets" + s.String() }

// LogValue redacts the secrets from slog output.
func (s Secrets) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("system", redactedIfSet(s.System)),
		slog.Int("system_old", len(s.SystemOld)),
		slog.String("client_registration", redactedIfSet(s.ClientRegistration)),
	)
}

// MarshalJSON redacts the secrets from JSON output (and so from slog's JSON
// handler when a whole Config is logged).
func (s Secrets) MarshalJSON() ([]byte, error) {
	return json.Marshal(s.redacted())
}

// MarshalYAML redacts the secrets from YAML output.
func (s Secrets) MarshalYAML() (any, error) {
	return s.redacted(), nil
}

func (s Secrets) redacted() map[string]any {
	old := make([]string, len(s.SystemOld))
	for i := range old {
		old[i] = redacted
	}
	hooks := make([]string, len(s.Webhooks))
	for i := range hooks {
		hooks[i] = redacted
	}
	return map[string]any{"system": redactedIfSet(s.System), "system_old": old, "client_registration": redactedIfSet(s.ClientRegistration),
		"webhooks": hooks}
}

func redactedIfSet(s string) string {
	if s == "" {
		return `""`
	}
	return redacted
}

// String redacts the relay password.
func (m Mail) String() string {
	return "{SMTPAddress:" + m.SMTPAddress + " From:" + m.From + " Username:" + m.Username + " Password:" + redactedIfSet(m.Password) + "}"
}
