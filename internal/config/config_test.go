package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

const testSecret = "0123456789abcdef0123456789abcdef-test"

// writeConfig writes content to a portero.yaml in a temporary directory.
func writeConfig(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "portero.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// plain drops the bookkeeping so that configs compare by value.
func plain(c *Config) *Config {
	cp := *c
	cp.sources = nil
	return &cp
}

// errorLines returns the messages joined in err, one per problem.
func errorLines(err error) []string {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []string
		for _, e := range j.Unwrap() {
			out = append(out, errorLines(e)...)
		}
		return out
	}
	return []string{err.Error()}
}

func leafPaths() []string {
	var out []string
	for _, l := range leaves() {
		out = append(out, l.path)
	}
	return out
}

func TestDefaults(t *testing.T) {
	c, err := Load("", nil)
	if err != nil {
		t.Fatalf("Load with no file and no env: %v", err)
	}
	if !reflect.DeepEqual(plain(c), Defaults()) {
		t.Errorf("Load(\"\", nil) = %+v, want the defaults", c)
	}
	want := Defaults()
	if want.Issuer != "http://localhost:8080" || want.HTTP.Address != ":8080" ||
		want.HTTP.ReadHeaderTimeout != 5*time.Second || want.HTTP.MaxBodyBytes != 65536 ||
		want.Database.URL != "" || want.Database.SQLitePath != "./data/portero.db" ||
		want.Database.MaxOpenConns != 32 || want.Database.ConnMaxLifetime != 30*time.Minute ||
		!want.Database.MigrateOnStart || want.OAuth.RefreshTokenLifespan != 720*time.Hour ||
		want.OAuth.RefreshGracePeriod != 5*time.Second || !want.OAuth.EnforcePKCEForAllClients ||
		!slices.Equal(want.OAuth.AllowedScopes, []string{"openid", "offline_access", "profile", "email", "roles", "portero:admin:read", "portero:admin:write"}) ||
		want.Session.Lifespan != 24*time.Hour || want.Session.CookieName != "portero_session" ||
		want.Log.Level != "info" || want.Log.Format != "" || !want.Metrics.Enabled {
		t.Errorf("Defaults() = %+v, differs from the documented defaults", want)
	}
	first, second := Defaults(), Defaults()
	if first == second || &first.OAuth.AllowedScopes[0] == &second.OAuth.AllowedScopes[0] {
		t.Error("Defaults() must return a fresh value each time")
	}

	// The defaults are a development configuration: valid with --dev once
	// a secret exists, refused without --dev with messages saying so.
	c.Secrets.System = testSecret
	if err := c.Validate(true); err != nil {
		t.Errorf("defaults + secret, dev: %v", err)
	}
	err = Defaults().Validate(false)
	lines := errorLines(err)
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "issuer: ") || !strings.HasPrefix(lines[1], "legal.file: ") || !strings.HasPrefix(lines[2], "secrets.system: ") {
		t.Fatalf("defaults, not dev: got %q, want an issuer, a legal.file and a secrets.system error", lines)
	}
	for _, l := range lines {
		if !strings.Contains(l, "--dev") {
			t.Errorf("%q does not mention --dev", l)
		}
	}
}

func TestPrecedence(t *testing.T) {
	file := `
issuer: https://file.example.com
http:
  address: "127.0.0.1:9000"
  read_timeout: 20s
  max_body_bytes: 1024
database:
  url: postgres://file@db/portero
  max_open_conns: 10
  max_idle_conns: 5
  migrate_on_start: false
oauth:
  refresh_grace_period: 0s
  allowed_scopes:
    - openid
    - email
session:
  cookie_name: file_cookie
log:
  level: debug
`
	tests := []struct {
		name  string
		env   []string
		check func(*Config) error
	}{
		{"file values", nil, func(c *Config) error {
			if c.Issuer != "https://file.example.com" || c.HTTP.Address != "127.0.0.1:9000" ||
				c.HTTP.ReadTimeout != 20*time.Second || c.HTTP.MaxBodyBytes != 1024 ||
				c.Database.URL != "postgres://file@db/portero" || c.Database.MaxOpenConns != 10 ||
				c.Database.MigrateOnStart || c.OAuth.RefreshGracePeriod != 0 ||
				!slices.Equal(c.OAuth.AllowedScopes, []string{"openid", "email"}) ||
				c.Session.CookieName != "file_cookie" || c.Log.Level != "debug" {
				return fmt.Errorf("file values not applied: %+v", c)
			}
			if c.HTTP.WriteTimeout != 15*time.Second || c.Session.Lifespan != 24*time.Hour {
				return fmt.Errorf("keys absent from the file lost their defaults: %+v", c)
			}
			return nil
		}},
		{"env wins over file", []string{
			"PORTERO_ISSUER=https://env.example.com",
			"PORTERO_HTTP_ADDRESS=:7000",
			"PORTERO_HTTP_READ_TIMEOUT=1m",
			"PORTERO_HTTP_MAX_BODY_BYTES=2048",
			"PORTERO_DATABASE_URL=postgresql://env@db/portero",
			"PORTERO_DATABASE_MIGRATE_ON_START=true",
			"PORTERO_OAUTH_REFRESH_GRACE_PERIOD=10s",
			"PORTERO_OAUTH_ALLOWED_SCOPES=openid, profile,,roles",
			"PORTERO_LOG_LEVEL=warn",
		}, func(c *Config) error {
			if c.Issuer != "https://env.example.com" || c.HTTP.Address != ":7000" ||
				c.HTTP.ReadTimeout != time.Minute || c.HTTP.MaxBodyBytes != 2048 ||
				c.Database.URL != "postgresql://env@db/portero" || !c.Database.MigrateOnStart ||
				c.OAuth.RefreshGracePeriod != 10*time.Second ||
				!slices.Equal(c.OAuth.AllowedScopes, []string{"openid", "profile", "roles"}) ||
				c.Log.Level != "warn" {
				return fmt.Errorf("env overrides not applied: %+v", c)
			}
			if c.Database.MaxOpenConns != 10 || c.Session.CookieName != "file_cookie" {
				return fmt.Errorf("file values not overridden were lost: %+v", c)
			}
			return nil
		}},
		{"empty env value is ignored, last duplicate wins", []string{
			"PORTERO_ISSUER=",
			"PORTERO_LOG_LEVEL=error",
			"PORTERO_LOG_LEVEL=warn",
			"NOT_AN_ASSIGNMENT",
		}, func(c *Config) error {
			if c.Issuer != "https://file.example.com" || c.Log.Level != "warn" {
				return fmt.Errorf("issuer %q, log.level %q", c.Issuer, c.Log.Level)
			}
			return nil
		}},
	}
	path := writeConfig(t, file)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(path, tc.env)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if err := tc.check(c); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestExpansion(t *testing.T) {
	env := []string{"SECRET=" + testSecret, "HOST=db.internal", "PORT=5433", "EMPTY="}
	tests := []struct {
		name    string
		yaml    string
		check   func(*Config) bool
		wantErr []string // substrings, each expected in the error
	}{
		{"braces", "secrets:\n  system: ${SECRET}\n",
			func(c *Config) bool { return c.Secrets.System == testSecret }, nil},
		{"bare name and several per value", "database:\n  url: postgres://u@$HOST:${PORT}/x\n",
			func(c *Config) bool { return c.Database.URL == "postgres://u@db.internal:5433/x" }, nil},
		{"into an int", "http:\n  max_body_bytes: ${PORT}\n",
			func(c *Config) bool { return c.HTTP.MaxBodyBytes == 5433 }, nil},
		{"in list items", "oauth:\n  allowed_scopes: [openid, \"${HOST}\"]\n",
			func(c *Config) bool { return slices.Equal(c.OAuth.AllowedScopes, []string{"openid", "db.internal"}) }, nil},
		{"$$ escapes a dollar", "session:\n  cookie_name: a$$b\n",
			func(c *Config) bool { return c.Session.CookieName == "a$b" }, nil},
		{"defined but empty is fine", "database:\n  url: ${EMPTY}\n",
			func(c *Config) bool { return c.Database.URL == "" }, nil},
		{"undefined variable", "secrets:\n  system: ${PORTERO_SYSTEM_SECRET}\n", nil,
			[]string{"secrets.system: undefined environment variable PORTERO_SYSTEM_SECRET", ":2)"}},
		{"every undefined variable", "database:\n  url: postgres://${DBUSER}:${DBPASS}@h/x\n", nil,
			[]string{"undefined environment variable DBUSER", "undefined environment variable DBPASS"}},
		{"lone dollar", "session:\n  cookie_name: a$\n", nil,
			[]string{"session.cookie_name: ", "write $$ for a literal dollar"}},
		{"unterminated", "session:\n  cookie_name: ${HOST\n", nil,
			[]string{"session.cookie_name: unterminated ${"}},
		{"bad name", "session:\n  cookie_name: ${1X}\n", nil,
			[]string{`invalid variable name "1X"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(writeConfig(t, tc.yaml), env)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				if !tc.check(c) {
					t.Errorf("unexpected result: %+v", c)
				}
				return
			}
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

func TestEnvValuesAreNotExpanded(t *testing.T) {
	c, err := Load("", []string{"PORTERO_SESSION_COOKIE_NAME=a$b"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Session.CookieName != "a$b" {
		t.Errorf("cookie_name = %q, want the env value verbatim", c.Session.CookieName)
	}
}

func TestStrictFile(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // one expected error line prefix per entry, in order
	}{
		{"unknown nested key", "http:\n  address: \":8080\"\n  adress: \":9090\"\n",
			[]string{"http.adress: unknown key, did you mean http.address? (" /* line */}},
		{"unknown top-level key", "issuer: https://a.example.com\ncache:\n  url: x\n",
			[]string{"cache: unknown key ("}},
		{"key at the wrong level", "address: \":8080\"\n",
			[]string{"address: unknown key, did you mean http.address?"}},
		{"repeated key", "log:\n  level: info\n  level: debug\n",
			[]string{"log.level: repeats the key already set on line 2"}},
		{"section given a value", "http: fast\n",
			[]string{`http: expected a mapping of keys, got the value "fast"`}},
		{"leaf given a mapping", "issuer:\n  url: x\n",
			[]string{"issuer: expected a single value, got a mapping"}},
		{"list given a mapping", "oauth:\n  allowed_scopes: {a: b}\n",
			[]string{"oauth.allowed_scopes: expected a list, got a mapping"}},
		{"not a mapping at all", "- a\n- b\n",
			[]string{"(top level): expected a mapping of keys, got a list"}},
		{"two documents", "log:\n  level: info\n---\nlog:\n  level: debug\n",
			[]string{""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConfig(t, tc.yaml)
			_, err := Load(path, nil)
			lines := errorLines(err)
			if len(lines) != len(tc.want) {
				t.Fatalf("got errors %q, want %d", lines, len(tc.want))
			}
			for i, want := range tc.want {
				if !strings.HasPrefix(lines[i], want) {
					t.Errorf("error %q, want prefix %q", lines[i], want)
				}
			}
		})
	}

	if _, err := Load(writeConfig(t, "log:\n  level: info\n---\n"), nil); err == nil || !strings.Contains(err.Error(), "more than one YAML document") {
		t.Errorf("two documents: got %v", err)
	}

	// The line of an unknown key is given, with the file.
	path := writeConfig(t, "http:\n  address: \":8080\"\n  adress: \":9090\"\n")
	_, err := Load(path, nil)
	if err == nil || !strings.Contains(err.Error(), path+":3)") {
		t.Errorf("error %v does not name %s line 3", err, path)
	}

	// Empty and comment-only files, and empty sections, mean the defaults.
	for _, content := range []string{"", "# nothing\n", "http:\n"} {
		c, err := Load(writeConfig(t, content), nil)
		if err != nil {
			t.Errorf("%q: %v", content, err)
		} else if !reflect.DeepEqual(plain(c), Defaults()) {
			t.Errorf("%q: got %+v, want the defaults", content, c)
		}
	}

	if _, err := Load(writeConfig(t, "http: [unclosed\n"), nil); err == nil {
		t.Error("invalid YAML accepted")
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml"), nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: got %v, want os.ErrNotExist", err)
	}
}

// TestAllErrorsAtOnce checks that unknown keys, unparsable values (from the
// file and from the environment) and invalid values are reported together,
// each prefixed with its key path.
func TestAllErrorsAtOnce(t *testing.T) {
	path := writeConfig(t, `
issuer: ftp://id.example.com
http:
  address: "8080"
  read_timeout: 0s
  max_body_bytes: lots
database:
  url: mysql://user:hunter2@db/portero
  max_open_conns: 0
  max_open_con: 3
secrets:
  system: short
  system_old: [also-short]
oauth:
  authorize_code_lifespan: 1h
  refresh_grace_period: 2m
  allowed_scopes: [profile, profile, "bad scope"]
session:
  idle_timeout: 48h
  cookie_name: "bad;name"
log:
  level: verbose
  format: xml
`)
	_, err := Load(path, []string{
		"PORTERO_SESSION_LIFESPAN=forever",
		"PORTERO_METRICS_ENABLED=maybe",
	})
	lines := errorLines(err)
	want := []string{
		"database.max_open_con: unknown key, did you mean database.max_open_conns?",
		`http.max_body_bytes: "lots" is not an integer`,
		`session.lifespan: PORTERO_SESSION_LIFESPAN: "forever" is not a duration`,
		`metrics.enabled: PORTERO_METRICS_ENABLED: "maybe" is not a boolean`,
		"issuer: must use https, not ftp",
		"http.address: must be host:port",
		"http.read_timeout: must be greater than 0",
		"database.url: must be a postgres:// or postgresql:// URL",
		"database.max_open_conns: must be at least 1 (" + path + ":9)",
		"secrets.system: is too short",
		"secrets.system_old[0]: is too short",
		"oauth.authorize_code_lifespan: must be at most 10m",
		"oauth.refresh_grace_period: must be at most 1m",
		`oauth.allowed_scopes[1]: repeats "profile"`,
		`oauth.allowed_scopes[2]: "bad scope" is not a valid scope`,
		"oauth.allowed_scopes: must include openid",
		"session.idle_timeout: must not exceed session.lifespan (24h0m0s) (" + path + ":19)",
		`session.cookie_name: "bad;name" is not a valid cookie name`,
		`log.level: is "verbose"; must be one of debug, info, warn, error`,
		`log.format: is "xml"`,
	}
	for _, w := range want {
		if !slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, w) }) {
			t.Errorf("missing error %q", w)
		}
	}
	if len(lines) != len(want) {
		t.Errorf("got %d errors, want %d:\n%s", len(lines), len(want), strings.Join(lines, "\n"))
	}
	// Every problem is prefixed with a key path of the schema.
	prefix := regexp.MustCompile(`^([a-z_.]+)(\[\d+\])?: `)
	for _, l := range lines {
		m := prefix.FindStringSubmatch(l)
		if m == nil {
			t.Errorf("%q is not prefixed with a key path", l)
		} else if !slices.Contains(leafPaths(), m[1]) && m[1] != "database.max_open_con" {
			t.Errorf("%q: %q is not a key path", l, m[1])
		}
	}
	if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), `"short"`) {
		t.Errorf("error leaks a secret: %v", err)
	}
}

func TestValidationMessagesNameTheSource(t *testing.T) {
	_, err := Load("", []string{"PORTERO_DATABASE_MAX_OPEN_CONNS=0"})
	if err == nil || err.Error() != "database.max_open_conns: must be at least 1 (env PORTERO_DATABASE_MAX_OPEN_CONNS)" {
		t.Errorf("got %v", err)
	}
}

func TestValidateRules(t *testing.T) {
	valid := func() *Config {
		c := Defaults()
		c.Issuer = "https://id.example.com"
		c.Secrets.System = testSecret
		c.Legal.File = "legal.yaml"
		return c
	}
	tests := []struct {
		name   string
		modify func(*Config)
		want   string // expected error prefix; "" means valid
	}{
		{"valid", func(*Config) {}, ""},
		{"postgres url", func(c *Config) { c.Database.URL = "postgres://u:p@db:5432/portero?sslmode=disable" }, ""},
		{"postgresql url", func(c *Config) { c.Database.URL = "postgresql:///portero?host=/run/postgresql" }, ""},
		{"unparsable url does not leak it", func(c *Config) { c.Database.URL = "postgres://u:p@db:port/x" }, "database.url: is not a valid URL: invalid port"},
		{"no sqlite path", func(c *Config) { c.Database.SQLitePath = "" }, "database.sqlite_path: must be set"},
		{"no sqlite path with postgres", func(c *Config) { c.Database.SQLitePath = ""; c.Database.URL = "postgres://db/x" }, ""},
		{"idle over open", func(c *Config) { c.Database.MaxIdleConns = 33 }, "database.max_idle_conns: must not exceed database.max_open_conns (32)"},
		{"negative idle", func(c *Config) { c.Database.MaxIdleConns = -1 }, "database.max_idle_conns: must be at least 0"},
		{"conn lifetime 0", func(c *Config) { c.Database.ConnMaxLifetime = 0 }, ""},
		{"grace 0 disables", func(c *Config) { c.OAuth.RefreshGracePeriod = 0 }, ""},
		{"grace 1m", func(c *Config) { c.OAuth.RefreshGracePeriod = time.Minute }, ""},
		{"grace negative", func(c *Config) { c.OAuth.RefreshGracePeriod = -time.Second }, "oauth.refresh_grace_period: must not be negative"},
		{"zero lifespan", func(c *Config) { c.OAuth.AccessTokenLifespan = 0 }, "oauth.access_token_lifespan: must be greater than 0"},
		{"zero id token", func(c *Config) { c.OAuth.IDTokenLifespan = 0 }, "oauth.id_token_lifespan: must be greater than 0"},
		{"zero prune", func(c *Config) { c.OAuth.PruneInterval = 0 }, "oauth.prune_interval: must be greater than 0"},
		{"client cache disabled", func(c *Config) { c.OAuth.ClientCacheTTL = 0 }, ""},
		{"idle over lifespan", func(c *Config) { c.Session.IdleTimeout = 25 * time.Hour }, "session.idle_timeout: must not exceed session.lifespan (24h0m0s)"},
		{"address host:port", func(c *Config) { c.HTTP.Address = "127.0.0.1:8443" }, ""},
		{"address ipv6", func(c *Config) { c.HTTP.Address = "[::1]:8080" }, ""},
		{"address bad port", func(c *Config) { c.HTTP.Address = ":http-alt" }, `http.address: has an invalid port "http-alt"`},
		{"address no port", func(c *Config) { c.HTTP.Address = "localhost" }, "http.address: must be host:port"},
		{"admin address", func(c *Config) { c.HTTP.AdminAddress = "127.0.0.1:8081" }, ""},
		{"admin address same as address", func(c *Config) { c.HTTP.AdminAddress = c.HTTP.Address }, "http.admin_address: must differ from http.address"},
		{"admin address bad", func(c *Config) { c.HTTP.AdminAddress = "nowhere" }, "http.admin_address: must be host:port"},
		{"body 0", func(c *Config) { c.HTTP.MaxBodyBytes = 0 }, "http.max_body_bytes: must be at least 1"},
		{"old secret equals current", func(c *Config) { c.Secrets.SystemOld = []string{testSecret} }, "secrets.system_old[0]: equals secrets.system"},
		{"old secrets repeated", func(c *Config) { c.Secrets.SystemOld = []string{testSecret + "1", testSecret + "1"} }, "secrets.system_old[1]: repeats an earlier entry"},
		{"text logs", func(c *Config) { c.Log.Format = "text" }, ""},
		{"upper-case level", func(c *Config) { c.Log.Level = "INFO" }, `log.level: is "INFO"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.modify(c)
			err := c.Validate(false)
			lines := errorLines(err)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tc.want != "" && (len(lines) != 1 || !strings.HasPrefix(lines[0], tc.want)):
				t.Errorf("got %q, want one error starting %q", lines, tc.want)
			}
			if strings.Contains(fmt.Sprint(err), "u:p@") {
				t.Errorf("error leaks the database URL: %v", err)
			}
		})
	}
}

func TestIssuer(t *testing.T) {
	tests := []struct {
		issuer       string
		dev, notDev  bool // valid with / without --dev
		wantContains string
	}{
		{"https://id.example.com", true, true, ""},
		{"https://id.example.com:8443/tenant-a", true, true, ""},
		{"https://localhost:8443", true, true, ""},
		{"http://localhost:8080", true, false, "--dev"},
		{"http://LOCALHOST", true, false, "--dev"},
		{"http://127.0.0.1:8080", true, false, "--dev"},
		{"http://127.8.9.10", true, false, "--dev"},
		{"http://[::1]:8080", true, false, "--dev"},
		{"http://id.example.com", false, false, "must use https"},
		{"http://10.0.0.1:8080", false, false, "must use https"},
		{"http://localhost.example.com", false, false, "must use https"},
		{"http://[::2]", false, false, "must use https"},
		{"ftp://id.example.com", false, false, "must use https"},
		{"https://id.example.com/", false, false, "slash"},
		{"https://id.example.com/?", false, false, "query"},
		{"https://id.example.com?tenant=a", false, false, "query"},
		{"https://id.example.com#top", false, false, "fragment"},
		{"https://id.example.com#", false, false, "fragment"},
		{"https://admin@id.example.com", false, false, "user information"},
		{"id.example.com", false, false, "absolute URL"},
		{"/issuer", false, false, "absolute URL"},
		{"localhost:8080", false, false, "absolute URL"},
		{"https://", false, false, "absolute URL"},
		{"https://id example.com", false, false, "not a valid URL"},
		{"", false, false, "must be set"},
	}
	for _, tc := range tests {
		t.Run(tc.issuer, func(t *testing.T) {
			for _, mode := range []struct {
				dev   bool
				valid bool
			}{{true, tc.dev}, {false, tc.notDev}} {
				c := Defaults()
				c.Secrets.System = testSecret
				c.Legal.File = "legal.yaml"
				c.Issuer = tc.issuer
				err := c.Validate(mode.dev)
				if mode.valid != (err == nil) {
					t.Errorf("dev=%v: got %v, want valid=%v", mode.dev, err, mode.valid)
				}
				if err != nil && !strings.HasPrefix(err.Error(), "issuer: ") {
					t.Errorf("dev=%v: %q lacks the issuer: prefix", mode.dev, err)
				}
				if err != nil && tc.wantContains != "" && !strings.Contains(err.Error(), tc.wantContains) {
					t.Errorf("dev=%v: %q does not mention %q", mode.dev, err, tc.wantContains)
				}
			}
		})
	}
}

func TestPrepareDev(t *testing.T) {
	newConfig := func(dir string) *Config {
		c := Defaults()
		c.Database.SQLitePath = filepath.Join(dir, "data", "portero.db")
		return c
	}
	dir := t.TempDir()
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))

	// First run: generated, written 0600 in a 0700 directory, loudly logged.
	c := newConfig(dir)
	if err := c.PrepareDev(logger); err != nil {
		t.Fatal(err)
	}
	secret := c.Secrets.System
	if len(secret) != 43 || strings.ContainsAny(secret, "+/=") {
		t.Errorf("generated secret has length %d, want 43 base64url characters without padding", len(secret))
	}
	path := filepath.Join(dir, "data", "system-secret")
	if c.DevSecretPath() != path {
		t.Errorf("DevSecretPath() = %q, want %q", c.DevSecretPath(), path)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("secret file mode %v, want 0600", fi.Mode().Perm())
	}
	di, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if di.Mode().Perm() != 0o700 {
		t.Errorf("secret directory mode %v, want 0700", di.Mode().Perm())
	}
	data, _ := os.ReadFile(path)
	if strings.TrimSpace(string(data)) != secret {
		t.Error("the file does not hold the secret in use")
	}
	out := logs.String()
	if !strings.Contains(out, "level=WARN") || !strings.Contains(out, "generated a new system secret") || !strings.Contains(out, path) {
		t.Errorf("no loud WARN line naming the file: %q", out)
	}
	if strings.Contains(out, secret) {
		t.Error("the log contains the secret")
	}
	if err := c.Validate(true); err != nil {
		t.Errorf("dev config after PrepareDev: %v", err)
	}

	// Second run: the same secret is reused, without a new warning.
	logs.Reset()
	c2 := newConfig(dir)
	if err := c2.PrepareDev(logger); err != nil {
		t.Fatal(err)
	}
	if c2.Secrets.System != secret {
		t.Error("the persisted secret was not reused")
	}
	if strings.Contains(logs.String(), "generated") || strings.Contains(logs.String(), secret) {
		t.Errorf("unexpected log on reuse: %q", logs.String())
	}

	// A configured secret is left alone and nothing is written.
	other := t.TempDir()
	c3 := newConfig(other)
	c3.Secrets.System = testSecret
	if err := c3.PrepareDev(nil); err != nil || c3.Secrets.System != testSecret {
		t.Errorf("configured secret: err %v, secret changed: %v", err, c3.Secrets.System != testSecret)
	}
	if _, err := os.Stat(c3.DevSecretPath()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a secret file was written although secrets.system is set: %v", err)
	}

	// A damaged secret file is an error, not silently replaced.
	bad := t.TempDir()
	c4 := newConfig(bad)
	if err := os.MkdirAll(filepath.Dir(c4.DevSecretPath()), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c4.DevSecretPath(), []byte("tooshort\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c4.PrepareDev(nil); err == nil || !strings.HasPrefix(err.Error(), "secrets.system: ") {
		t.Errorf("short secret file: got %v", err)
	}

	// Without dev mode nothing is generated and an empty secret is refused.
	c5 := newConfig(t.TempDir())
	c5.Issuer = "https://id.example.com"
	err = c5.Validate(false)
	if err == nil || !strings.Contains(err.Error(), "secrets.system: must be set outside --dev") {
		t.Errorf("empty secret without dev: %v", err)
	}
	if err := c5.Validate(true); err == nil {
		t.Error("empty secret in dev mode without PrepareDev accepted")
	}
}

// TestEnvMappingCoversEveryLeaf checks, by reflection, that every leaf key
// has a distinct PORTERO_ variable that sets exactly that field.
func TestEnvMappingCoversEveryLeaf(t *testing.T) {
	for path, want := range map[string]string{
		"database.url":                       "PORTERO_DATABASE_URL",
		"issuer":                             "PORTERO_ISSUER",
		"http.address":                       "PORTERO_HTTP_ADDRESS",
		"oauth.refresh_grace_period":         "PORTERO_OAUTH_REFRESH_GRACE_PERIOD",
		"secrets.system_old":                 "PORTERO_SECRETS_SYSTEM_OLD",
		"http.read_header_timeout":           "PORTERO_HTTP_READ_HEADER_TIMEOUT",
		"oauth.enforce_pkce_for_all_clients": "PORTERO_OAUTH_ENFORCE_PKCE_FOR_ALL_CLIENTS",
	} {
		if got := EnvName(path); got != want {
			t.Errorf("EnvName(%q) = %q, want %q", path, got, want)
		}
	}

	// Count the leaves independently of collectLeaves.
	var count func(reflect.Type) int
	count = func(t reflect.Type) int {
		n := 0
		for i := range t.NumField() {
			f := t.Field(i)
			switch {
			case !f.IsExported():
			case f.Type.Kind() == reflect.Struct:
				n += count(f.Type)
			default:
				n++
			}
		}
		return n
	}
	if got, want := len(leaves()), count(reflect.TypeFor[Config]()); got != want {
		t.Fatalf("%d leaves found, Config has %d leaf fields", got, want)
	}

	seen := map[string]string{}
	for _, l := range leaves() {
		if !regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$`).MatchString(l.path) {
			t.Errorf("key path %q is not lower_snake_case", l.path)
		}
		if prev, dup := seen[l.env]; dup {
			t.Errorf("%s and %s share %s", prev, l.path, l.env)
		}
		seen[l.env] = l.path

		def := reflect.ValueOf(Defaults()).Elem().FieldByIndex(l.index)
		var value string
		var want any
		switch {
		case l.typ == durationType:
			d := time.Duration(def.Int()) + 3*time.Second
			value, want = d.String(), d
		case l.typ.Kind() == reflect.Slice:
			value, want = " a, b ,,c", []string{"a", "b", "c"}
		case l.typ.Kind() == reflect.String:
			value, want = "override-"+l.path, "override-"+l.path
		case l.typ.Kind() == reflect.Bool:
			value, want = fmt.Sprint(!def.Bool()), !def.Bool()
		case l.typ.Kind() == reflect.Int:
			value, want = fmt.Sprint(def.Int()+7), int(def.Int()+7)
		default:
			t.Fatalf("%s: type %s not covered", l.path, l.typ)
		}
		c := Defaults()
		if errs := c.applyEnv(map[string]string{l.env: value}); errs != nil {
			t.Errorf("%s=%q: %v", l.env, value, errs)
			continue
		}
		got := reflect.ValueOf(c).Elem().FieldByIndex(l.index).Interface()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s=%q set %s to %v, want %v", l.env, value, l.path, got, want)
		}
		// Nothing else changed.
		reflect.ValueOf(c).Elem().FieldByIndex(l.index).Set(def)
		if !reflect.DeepEqual(plain(c), Defaults()) {
			t.Errorf("%s changed more than %s", l.env, l.path)
		}
		if c.sources[l.path] != "env "+l.env {
			t.Errorf("%s: source %q not recorded", l.path, c.sources[l.path])
		}

		// An unparsable value names the variable and the key path.
		if l.typ.Kind() != reflect.String && l.typ.Kind() != reflect.Slice {
			errs := Defaults().applyEnv(map[string]string{l.env: "not valid"})
			if len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), l.path+": "+l.env+": ") {
				t.Errorf("%s=not valid: got %v", l.env, errs)
			}
		}
	}
}

func TestExampleFile(t *testing.T) {
	const example = "../../config.example.yaml"
	c, err := Load(example, []string{
		"PORTERO_SYSTEM_SECRET=" + testSecret,
		"PORTERO_ISSUER=https://id.example.com",
		"PORTERO_LEGAL_FILE=/etc/portero/legal.yaml",
	})
	if err != nil {
		t.Fatalf("loading %s: %v", example, err)
	}
	if err := c.Validate(false); err != nil {
		t.Fatalf("%s is not valid: %v", example, err)
	}
	// The example shows the defaults.
	want := Defaults()
	want.Issuer = "https://id.example.com"
	want.Secrets.System = testSecret
	want.Legal.File = "/etc/portero/legal.yaml"
	if !reflect.DeepEqual(plain(c), want) {
		t.Errorf("%s differs from Defaults():\n got %+v\nwant %+v", example, plain(c), want)
	}
	if _, err := Load(example, nil); err == nil || !strings.Contains(err.Error(), "undefined environment variable PORTERO_SYSTEM_SECRET") {
		t.Errorf("without PORTERO_SYSTEM_SECRET: got %v", err)
	}

	data, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "system: ${PORTERO_SYSTEM_SECRET}") {
		t.Error("the example does not show secrets.system: ${PORTERO_SYSTEM_SECRET}")
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	// Every leaf key is in the file, with a comment naming its default and
	// its environment variable.
	keys := map[string]*yaml.Node{}
	var walk func(n *yaml.Node, prefix string)
	walk = func(n *yaml.Node, prefix string) {
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if v.Kind == yaml.MappingNode {
				walk(v, prefix+k.Value+".")
			} else {
				keys[prefix+k.Value] = k
			}
		}
	}
	walk(doc.Content[0], "")
	for _, path := range leafPaths() {
		k, ok := keys[path]
		if !ok {
			t.Errorf("%s: missing from %s", path, example)
			continue
		}
		comment := k.HeadComment
		if !strings.Contains(comment, "Default:") {
			t.Errorf("%s: comment %q does not give the default", path, comment)
		}
		if !strings.Contains(comment, "Env: "+EnvName(path)) {
			t.Errorf("%s: comment %q does not give %s", path, comment, EnvName(path))
		}
	}
}

// TestFieldsDocumented checks that every field of every struct in config.go
// carries a doc comment.
func TestFieldsDocumented(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "config.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	structs := 0
	ast.Inspect(f, func(n ast.Node) bool {
		ts, ok := n.(*ast.TypeSpec)
		if !ok {
			return true
		}
		st, ok := ts.Type.(*ast.StructType)
		if !ok {
			return true
		}
		structs++
		for _, field := range st.Fields.List {
			if field.Doc == nil || strings.TrimSpace(field.Doc.Text()) == "" {
				t.Errorf("%s: field %s of %s has no doc comment", fset.Position(field.Pos()), field.Names[0], ts.Name)
			}
		}
		return true
	})
	if structs != 18 {
		t.Errorf("found %d structs in config.go, want 18", structs)
	}
}

func TestResolve(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if path, ok := Resolve(""); path != "" || !ok {
		t.Errorf("no file: Resolve(\"\") = %q, %v; want \"\", true", path, ok)
	}
	if path, ok := Resolve("other.yaml"); path != "other.yaml" || ok {
		t.Errorf("missing flag file: Resolve = %q, %v; want other.yaml, false", path, ok)
	}
	if err := os.WriteFile(DefaultPath, []byte("log:\n  level: debug\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if path, ok := Resolve(""); path != DefaultPath || !ok {
		t.Errorf("with portero.yaml: Resolve(\"\") = %q, %v", path, ok)
	}
	if err := os.WriteFile("other.yaml", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if path, ok := Resolve("other.yaml"); path != "other.yaml" || !ok {
		t.Errorf("flag file: Resolve = %q, %v", path, ok)
	}
	if path, ok := Resolve(dir); path != dir || ok {
		t.Errorf("a directory: Resolve = %q, %v; want false", path, ok)
	}
}

func TestSecretsAreRedacted(t *testing.T) {
	c := Defaults()
	c.Secrets.System = testSecret
	c.Secrets.SystemOld = []string{testSecret + "-old"}
	c.Secrets.ClientRegistration = testSecret + "-registration"
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("config", "config", c, "secrets", c.Secrets)
	js, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	ys, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), logs.String(), string(js), string(ys)} {
		if strings.Contains(s, testSecret) {
			t.Errorf("secret printed: %s", s)
		}
	}
}

func TestNewLogger(t *testing.T) {
	var buf bytes.Buffer
	Log{Level: "warn"}.NewLogger(&buf, true).Info("hidden")
	Log{Level: "warn"}.NewLogger(&buf, true).Warn("shown")
	if out := buf.String(); strings.Contains(out, "hidden") || !strings.Contains(out, "level=WARN msg=shown") {
		t.Errorf("dev default format/level: %q", out)
	}
	buf.Reset()
	Log{Level: "info"}.NewLogger(&buf, false).Info("x")
	if !strings.HasPrefix(buf.String(), "{") {
		t.Errorf("default format outside dev is not json: %q", buf.String())
	}
	buf.Reset()
	Log{Level: "info", Format: "json"}.NewLogger(&buf, true).Info("x")
	if !strings.HasPrefix(buf.String(), "{") {
		t.Errorf("explicit json in dev: %q", buf.String())
	}
}

func TestExpand(t *testing.T) {
	lookup := func(name string) (string, bool) {
		v, ok := map[string]string{"A": "1", "B_2": "two", "E": ""}[name]
		return v, ok
	}
	tests := []struct {
		in, out   string
		undefined []string
		err       bool
	}{
		{"plain", "plain", nil, false},
		{"${A}", "1", nil, false},
		{"$A$B_2", "1two", nil, false},
		{"x${B_2}y", "xtwoy", nil, false},
		{"$A.b", "1.b", nil, false},
		{"$$", "$", nil, false},
		{"$${A}", "${A}", nil, false},
		{"$$$A", "$1", nil, false},
		{"[${E}]", "[]", nil, false},
		{"${X}-$Y", "-", []string{"X", "Y"}, false},
		{"$", "", nil, true},
		{"a$ b", "", nil, true},
		{"$1", "", nil, true},
		{"${", "", nil, true},
		{"${}", "", nil, true},
		{"${A-default}", "", nil, true},
	}
	for _, tc := range tests {
		out, undefined, err := expand(tc.in, lookup)
		if (err != nil) != tc.err {
			t.Errorf("expand(%q): err %v, want error %v", tc.in, err, tc.err)
			continue
		}
		if !tc.err && (out != tc.out || !slices.Equal(undefined, tc.undefined)) {
			t.Errorf("expand(%q) = %q, %q; want %q, %q", tc.in, out, undefined, tc.out, tc.undefined)
		}
	}
}

// TestPrepareDevDrain: --dev drops the default drain period (nobody's load
// balancer waits for a development server) but keeps a configured one.
func TestPrepareDevDrain(t *testing.T) {
	dir := t.TempDir()
	c, err := Load("", []string{"PORTERO_DATABASE_SQLITE_PATH=" + filepath.Join(dir, "p.db"), "PORTERO_SECRETS_SYSTEM=" + testSecret})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.PrepareDev(nil); err != nil || c.HTTP.DrainPeriod != 0 {
		t.Fatalf("default drain under --dev: %v, %v", c.HTTP.DrainPeriod, err)
	}
	c, err = Load("", []string{"PORTERO_HTTP_DRAIN_PERIOD=2s", "PORTERO_SECRETS_SYSTEM=" + testSecret})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.PrepareDev(nil); err != nil || c.HTTP.DrainPeriod != 2*time.Second {
		t.Fatalf("configured drain under --dev: %v, %v", c.HTTP.DrainPeriod, err)
	}
}
