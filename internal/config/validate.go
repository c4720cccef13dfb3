package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/portero-id/portero/identity"
)

// MinSecretLength is the minimum length of secrets.system and of every
// secrets.system_old entry.
const MinSecretLength = 32

// Validate checks every rule and returns all violations joined with
// errors.Join, each prefixed with its key path, e.g.
// "database.max_open_conns: must be at least 1".
//
// Outside dev mode the system secret is required and the issuer must be
// https. In dev mode an http issuer on a loopback host is accepted; call
// PrepareDev first, which supplies a development system secret.
func (c *Config) Validate(dev bool) error {
	return errors.Join(c.check(dev, true)...)
}

// check returns every violation. With final false it skips the rules that
// depend on the mode or on PrepareDev: a missing system secret and an http
// issuer on a loopback host outside dev mode.
func (c *Config) check(dev, final bool) []error {
	v := &validator{c: c}

	v.issuer(dev, final)

	// http
	v.address("http.address", c.HTTP.Address)
	if c.HTTP.AdminAddress != "" {
		v.address("http.admin_address", c.HTTP.AdminAddress)
		if c.HTTP.AdminAddress == c.HTTP.Address {
			v.errorf("http.admin_address", "must differ from http.address (leave it empty to serve the admin API there)")
		}
	}
	if c.HTTP.MetricsAddress != "" {
		v.address("http.metrics_address", c.HTTP.MetricsAddress)
		if c.HTTP.MetricsAddress == c.HTTP.Address || c.HTTP.MetricsAddress == c.HTTP.AdminAddress {
			v.errorf("http.metrics_address", "must differ from http.address and http.admin_address")
		}
	}
	if c.HTTP.DrainPeriod < 0 {
		v.errorf("http.drain_period", "must not be negative")
	}
	v.positive("http.read_header_timeout", c.HTTP.ReadHeaderTimeout)
	v.positive("http.read_timeout", c.HTTP.ReadTimeout)
	v.positive("http.write_timeout", c.HTTP.WriteTimeout)
	v.positive("http.idle_timeout", c.HTTP.IdleTimeout)
	v.positive("http.shutdown_timeout", c.HTTP.ShutdownTimeout)
	v.atLeast("http.max_body_bytes", c.HTTP.MaxBodyBytes, 1)
	if r := c.Secrets.ClientRegistration; r != "" && len(r) < 32 {
		v.errorf("secrets.client_registration", "must have at least 32 characters when set")
	}
	v.oneOf("legal.minors", c.Legal.Minors, "representative", "refuse")
	if _, err := Holidays(c.Legal.ExtraHolidays); err != nil {
		v.errorf("legal.extra_holidays", "%v", err)
	}
	if final && !dev && strings.TrimSpace(c.Legal.File) == "" {
		v.errorf("legal.file", "is required outside --dev: Ley 1581 de 2012 requires the responsable's identity, the treatment policy, the privacy notice and the purposes before any personal data is processed (see config.example.yaml)")
	}
	if _, err := ParsePrefixes(c.HTTP.TrustedProxies); err != nil {
		v.errorf("http.trusted_proxies", "%v", err)
	}
	if _, err := ParsePrefixes(c.OAuth.OutboundAllowedNetworks); err != nil {
		v.errorf("oauth.outbound_allowed_networks", "%v", err)
	}

	// database
	v.databaseURL(c.Database.URL)
	if c.Database.URL == "" && strings.TrimSpace(c.Database.SQLitePath) == "" {
		v.errorf("database.sqlite_path", "must be set when database.url is empty (SQLite is then the database)")
	}
	v.atLeast("database.max_open_conns", c.Database.MaxOpenConns, 1)
	v.atLeast("database.max_idle_conns", c.Database.MaxIdleConns, 0)
	if c.Database.MaxOpenConns >= 1 && c.Database.MaxIdleConns > c.Database.MaxOpenConns {
		v.errorf("database.max_idle_conns", "must not exceed database.max_open_conns (%d)", c.Database.MaxOpenConns)
	}
	v.nonNegative("database.conn_max_lifetime", c.Database.ConnMaxLifetime)

	// secrets
	v.secrets(dev, final)

	// oauth
	if v.positive("oauth.access_token_lifespan", c.OAuth.AccessTokenLifespan) && c.OAuth.AccessTokenLifespan > identity.MaxAccessTokenLifespan {
		// Revocation rules are kept this long (identity.MaxAccessTokenLifespan).
		v.errorf("oauth.access_token_lifespan", "must be at most %s", identity.MaxAccessTokenLifespan)
	}
	v.positive("oauth.refresh_token_lifespan", c.OAuth.RefreshTokenLifespan)
	if v.positive("oauth.authorize_code_lifespan", c.OAuth.AuthorizeCodeLifespan) && c.OAuth.AuthorizeCodeLifespan > 10*time.Minute {
		v.errorf("oauth.authorize_code_lifespan", "must be at most 10m (RFC 6749 section 4.1.2)")
	}
	v.positive("oauth.id_token_lifespan", c.OAuth.IDTokenLifespan)
	if v.nonNegative("oauth.refresh_grace_period", c.OAuth.RefreshGracePeriod) && c.OAuth.RefreshGracePeriod > time.Minute {
		v.errorf("oauth.refresh_grace_period", "must be at most 1m (0 disables it)")
	}
	if v.nonNegative("oauth.jwks_cache_period", c.OAuth.JWKSCachePeriod) && c.OAuth.JWKSCachePeriod < KeyReloadInterval {
		// A new key signs only after this period; every replica must have
		// published it by then, and the periodic reload (the bound when a
		// change notification is lost) takes up to KeyReloadInterval.
		v.errorf("oauth.jwks_cache_period", "must be at least %s (how often replicas reload the signing keys)", KeyReloadInterval)
	}
	v.nonNegative("oauth.client_cache_ttl", c.OAuth.ClientCacheTTL)
	v.positive("oauth.prune_interval", c.OAuth.PruneInterval)
	v.scopes("oauth.allowed_scopes", c.OAuth.AllowedScopes)

	// session
	v.positive("session.lifespan", c.Session.Lifespan)
	if v.positive("session.idle_timeout", c.Session.IdleTimeout) && c.Session.Lifespan > 0 && c.Session.IdleTimeout > c.Session.Lifespan {
		v.errorf("session.idle_timeout", "must not exceed session.lifespan (%s)", c.Session.Lifespan)
	}
	v.cookieName("session.cookie_name", c.Session.CookieName)

	// accounts
	v.roles("accounts.default_roles", c.Accounts.DefaultRoles)
	v.roles("accounts.mfa_required_roles", c.Accounts.MFARequiredRoles)
	v.atLeast("accounts.password_min_length", c.Accounts.PasswordMinLength, 8)
	v.atLeast("accounts.argon2_memory_kib", c.Accounts.Argon2MemoryKiB, 8192)
	v.atLeast("accounts.argon2_iterations", c.Accounts.Argon2Iterations, 1)
	v.atLeast("accounts.argon2_parallelism", c.Accounts.Argon2Parallelism, 1)
	if c.Accounts.Argon2Parallelism > 255 {
		v.errorf("accounts.argon2_parallelism", "must be at most 255")
	}
	// Upper bounds too: the values become argon2's uint32 parameters, and
	// a cost nobody can pay is an outage, not security.
	if c.Accounts.Argon2MemoryKiB > 4<<20 {
		v.errorf("accounts.argon2_memory_kib", "must be at most 4194304 (4 GiB)")
	}
	if c.Accounts.Argon2Iterations > 1000 {
		v.errorf("accounts.argon2_iterations", "must be at most 1000")
	}
	v.positive("accounts.verify_email_lifespan", c.Accounts.VerifyEmailLifespan)
	if v.positive("accounts.reset_password_lifespan", c.Accounts.ResetPasswordLifespan) && c.Accounts.ResetPasswordLifespan > 24*time.Hour {
		v.errorf("accounts.reset_password_lifespan", "must be at most 24h")
	}
	if strings.TrimSpace(c.Accounts.WebAuthnRPName) == "" {
		v.errorf("accounts.webauthn_rp_name", "must not be empty")
	}

	// throttle
	v.throttle("throttle.account", c.Throttle.Account)
	v.throttle("throttle.ip", c.Throttle.IP)

	// redis
	if c.Redis.URL != "" {
		if u, err := url.Parse(c.Redis.URL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
			v.errorf("redis.url", "must be a redis:// or rediss:// URL")
		}
	}

	// rate limits
	for _, l := range []struct {
		path string
		RateLimit
	}{
		{"rate_limits.token_per_client", c.RateLimits.TokenPerClient},
		{"rate_limits.introspection_per_client", c.RateLimits.IntrospectionPerClient},
		{"rate_limits.oauth_per_address", c.RateLimits.OAuthPerAddress},
		{"rate_limits.pages_per_address", c.RateLimits.PagesPerAddress},
		{"rate_limits.registration_per_address", c.RateLimits.RegistrationPerAddress},
		{"rate_limits.admin_per_principal", c.RateLimits.AdminPerPrincipal},
	} {
		switch {
		case l.Requests < 0:
			v.errorf(l.path+".requests", "must not be negative (0 turns the limit off)")
		case l.Requests > 0 && l.Per <= 0:
			v.errorf(l.path+".per", "must be positive")
		case l.Requests > 0 && l.Burst < 1:
			v.errorf(l.path+".burst", "must be at least 1")
		}
	}

	// webhooks
	if u := c.Webhooks.URL; u != "" {
		parsed, err := url.Parse(u)
		switch {
		case err != nil || parsed.Host == "" || parsed.User != nil:
			v.errorf("webhooks.url", "must be an https URL without credentials")
		case parsed.Scheme == "http" && parsed.Hostname() != "127.0.0.1" && parsed.Hostname() != "::1" && parsed.Hostname() != "localhost":
			v.errorf("webhooks.url", "must be https (the events carry personal data); http only on a loopback address")
		case parsed.Scheme != "https" && parsed.Scheme != "http":
			v.errorf("webhooks.url", "must be an https URL")
		}
		if len(c.Secrets.Webhooks) == 0 {
			v.errorf("secrets.webhooks", "needs at least one secret when webhooks.url is set")
		}
	}
	for i, s := range c.Secrets.Webhooks {
		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "whsec_"))
		if err != nil || len(key) < 24 {
			v.errorf(fmt.Sprintf("secrets.webhooks[%d]", i), "must be whsec_ followed by at least 24 random bytes in base64 (e.g. whsec_$(openssl rand -base64 32))")
		}
	}
	for i, k := range c.Webhooks.Kinds {
		if !slices.Contains([]string{"audit", "consent", "request", "admin"}, k) {
			v.errorf(fmt.Sprintf("webhooks.kinds[%d]", i), "must be audit, consent, request or admin")
		}
	}

	// tracing
	if e := c.Tracing.Endpoint; e != "" {
		if u, err := url.Parse(e); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			v.errorf("tracing.endpoint", "must be an http:// or https:// URL without credentials")
		}
	}
	if p := c.Tracing.SamplePercent; p < 0 || p > 100 {
		v.errorf("tracing.sample_percent", "must be between 0 and 100")
	}

	// mail
	if c.Mail.SMTPAddress != "" {
		v.address("mail.smtp_address", c.Mail.SMTPAddress)
		if _, err := mail.ParseAddress(c.Mail.From); err != nil {
			v.errorf("mail.from", "must be an e-mail address, optionally with a name")
		}
	}

	// log
	v.oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	v.oneOf("log.format", c.Log.Format, "", "json", "text")

	return v.errs
}

type validator struct {
	c    *Config
	errs []error
}

// errorf records a violation of key path, saying where the value was set
// when it did not come from the defaults.
func (v *validator) errorf(path, format string, args ...any) {
	msg := path + ": " + fmt.Sprintf(format, args...)
	if src := v.c.sources[sourceKey(path)]; src != "" {
		msg += " (" + src + ")"
	}
	v.errs = append(v.errs, errors.New(msg))
}

// sourceKey strips a list index: "secrets.system_old[1]" -> "secrets.system_old".
func sourceKey(path string) string {
	if i := strings.IndexByte(path, '['); i >= 0 {
		return path[:i]
	}
	return path
}

func (v *validator) roles(path string, roles []string) {
	for i, r := range roles {
		if strings.TrimSpace(r) == "" || strings.ContainsAny(r, " ,") {
			v.errorf(fmt.Sprintf("%s[%d]", path, i), "must be a role name without spaces or commas")
		}
	}
}

func (v *validator) throttle(path string, p ThrottlePolicy) {
	v.atLeast(path+".free_attempts", p.FreeAttempts, 0)
	v.positive(path+".base_delay", p.BaseDelay)
	if v.positive(path+".max_delay", p.MaxDelay) && p.MaxDelay < p.BaseDelay {
		v.errorf(path+".max_delay", "must be at least base_delay (%s)", p.BaseDelay)
	}
	if p.LockoutAfter <= p.FreeAttempts {
		v.errorf(path+".lockout_after", "must be greater than free_attempts (%d)", p.FreeAttempts)
	}
	v.positive(path+".lockout_for", p.LockoutFor)
	v.positive(path+".window", p.Window)
}

func (v *validator) positive(path string, d time.Duration) bool {
	if d <= 0 {
		v.errorf(path, "must be greater than 0 (e.g. 30s, 15m, 24h)")
		return false
	}
	return true
}

func (v *validator) nonNegative(path string, d time.Duration) bool {
	if d < 0 {
		v.errorf(path, "must not be negative")
		return false
	}
	return true
}

func (v *validator) atLeast(path string, n, lowest int) {
	if n < lowest {
		v.errorf(path, "must be at least %d", lowest)
	}
}

func (v *validator) oneOf(path, s string, allowed ...string) {
	if slices.Contains(allowed, s) {
		return
	}
	var names []string
	for _, a := range allowed {
		if a == "" {
			a = `"" (the default)`
		}
		names = append(names, a)
	}
	v.errorf(path, "is %q; must be one of %s", s, strings.Join(names, ", "))
}

func (v *validator) issuer(dev, final bool) {
	const path = "issuer"
	s := v.c.Issuer
	if s == "" {
		v.errorf(path, "must be set to the URL clients reach Portero at, e.g. https://id.example.com")
		return
	}
	u, err := url.Parse(s)
	if err != nil {
		v.errorf(path, "is not a valid URL: %v", urlError(err))
		return
	}
	switch {
	case u.Scheme == "" || u.Host == "" || u.Opaque != "":
		v.errorf(path, "must be an absolute URL such as https://id.example.com")
		return
	case u.User != nil:
		v.errorf(path, "must not contain user information")
	case u.RawQuery != "" || u.ForceQuery:
		v.errorf(path, "must not have a query")
	case strings.Contains(s, "#"):
		v.errorf(path, "must not have a fragment")
	case strings.HasSuffix(u.Path, "/"):
		v.errorf(path, "must not end with a slash")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			v.errorf(path, "must use https; http is only accepted on a loopback host (localhost, 127.0.0.1, [::1]) with --dev")
		} else if final && !dev {
			v.errorf(path, "must use https; http on a loopback host is only accepted with --dev")
		}
	default:
		v.errorf(path, "must use https, not %s", u.Scheme)
	}
}

// isLoopback reports whether host is localhost, in 127.0.0.0/8 or ::1.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Zone() == "" && ip.Unmap().IsLoopback()
}

func (v *validator) address(path, addr string) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		v.errorf(path, "must be host:port or :port, e.g. :8080 (%v)", err)
		return
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		v.errorf(path, "has an invalid port %q; must be a number from 0 to 65535", port)
	}
}

func (v *validator) databaseURL(s string) {
	const path = "database.url"
	if s == "" {
		return
	}
	// Never quote the URL: it may hold a password.
	u, err := url.Parse(s)
	if err != nil {
		v.errorf(path, "is not a valid URL: %v", urlError(err))
		return
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		v.errorf(path, "must be a postgres:// or postgresql:// URL (leave it empty for SQLite)")
	}
}

// urlError drops the *url.Error wrapper, which quotes the whole URL.
func urlError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func (v *validator) secrets(dev, final bool) {
	s := v.c.Secrets
	switch {
	case s.System == "" && final && dev:
		v.errorf("secrets.system", "must be set; in dev mode PrepareDev generates one, call it before Validate")
	case s.System == "" && final:
		v.errorf("secrets.system", "must be set outside --dev: at least %d random characters (e.g. `openssl rand -base64 32`), "+
			"given with %s or as secrets.system: ${PORTERO_SYSTEM_SECRET} in the config file", MinSecretLength, EnvName("secrets.system"))
	case s.System != "" && len(s.System) < MinSecretLength:
		v.errorf("secrets.system", "is too short: must be at least %d characters", MinSecretLength)
	}
	for i, old := range s.SystemOld {
		path := fmt.Sprintf("secrets.system_old[%d]", i)
		switch {
		case len(old) < MinSecretLength:
			v.errorf(path, "is too short: must be at least %d characters", MinSecretLength)
		case old == s.System:
			v.errorf(path, "equals secrets.system; list only previous secrets")
		case slices.Contains(s.SystemOld[:i], old):
			v.errorf(path, "repeats an earlier entry")
		}
	}
}

func (v *validator) scopes(path string, scopes []string) {
	for i, s := range scopes {
		if !isScopeToken(s) {
			v.errorf(fmt.Sprintf("%s[%d]", path, i), "%q is not a valid scope (RFC 6749 section 3.3: printable ASCII without space, \" or \\)", s)
		} else if slices.Contains(scopes[:i], s) {
			v.errorf(fmt.Sprintf("%s[%d]", path, i), "repeats %q", s)
		}
	}
	if !slices.Contains(scopes, "openid") {
		v.errorf(path, "must include openid")
	}
}

// isScopeToken reports whether s is a scope-token of RFC 6749 section 3.3:
// 1*( %x21 / %x23-5B / %x5D-7E ).
func isScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

func (v *validator) cookieName(path, name string) {
	if name == "" {
		v.errorf(path, "must be set")
		return
	}
	// RFC 6265 cookie-name is an RFC 2616 token.
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= 0x20 || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?={}`, c) >= 0 {
			v.errorf(path, "%q is not a valid cookie name (letters, digits and !#$%%&'*+-.^_`|~ only)", name)
			return
		}
	}
}

// ParsePrefixes reads IP addresses and CIDR ranges.
func ParsePrefixes(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q is neither an IP address nor a CIDR range", s)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// Holiday is an extra public holiday from the configuration.
type Holiday struct {
	Date time.Time // midnight UTC of the civil date
	Name string
}

// Holidays reads legal.extra_holidays: "YYYY-MM-DD" or "YYYY-MM-DD Name".
func Holidays(list []string) ([]Holiday, error) {
	var out []Holiday
	for _, s := range list {
		date, name, _ := strings.Cut(strings.TrimSpace(s), " ")
		d, err := time.Parse(time.DateOnly, date)
		if err != nil {
			return nil, fmt.Errorf("%q is not YYYY-MM-DD [name]", s)
		}
		out = append(out, Holiday{Date: d, Name: strings.TrimSpace(name)})
	}
	return out, nil
}
