package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portero-id/portero/internal/buildinfo"
	"github.com/portero-id/portero/internal/manage"
)

type cli struct {
	t   *testing.T
	env []string
}

// newCLI is a command line on a new, migrated database.
func newCLI(t *testing.T) *cli {
	c := newBareCLI(t)
	c.ok("", "migrate")
	return c
}

// newBareCLI is a command line on a database nobody has migrated.
func newBareCLI(t *testing.T) *cli {
	dir := t.TempDir()
	return &cli{t: t, env: []string{
		"PORTERO_DATABASE_SQLITE_PATH=" + filepath.Join(dir, "portero.db"),
		"PORTERO_LOG_LEVEL=error",
	}}
}

func (c *cli) run(stdin string, args ...string) (string, string, error) {
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, strings.NewReader(stdin), &out, &errOut, c.env)
	return out.String(), errOut.String(), err
}

func (c *cli) ok(stdin string, args ...string) string {
	c.t.Helper()
	out, errOut, err := c.run(stdin, args...)
	if err != nil {
		c.t.Fatalf("portero %s: %v\n%s", strings.Join(args, " "), err, errOut)
	}
	return out
}

func (c *cli) jsonOut(v any, args ...string) {
	c.t.Helper()
	out := c.ok("", append([]string{"--json"}, args...)...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		c.t.Fatalf("portero %s: not JSON: %q", strings.Join(args, " "), out)
	}
}

func TestClientsCommands(t *testing.T) {
	c := newCLI(t)
	var created map[string]any
	c.jsonOut(&created, "clients", "create", "--id", "orders-api", "--name", "Orders", "--grant-types", "client_credentials",
		"--scopes", "openid", "--roles", "vendor,admin", "--token-format", "opaque")
	secret, _ := created["client_secret"].(string)
	client, _ := created["client"].(map[string]any)
	if len(secret) < 43 || client["token_format"] != "opaque" || client["token_endpoint_auth_method"] != "client_secret_basic" {
		t.Fatalf("created = %v", created)
	}
	var got map[string]any
	c.jsonOut(&got, "clients", "get", "--id", "orders-api")
	if _, shown := got["client_secret"]; shown {
		t.Fatal("the secret is shown again after creation")
	}
	var list []map[string]any
	c.jsonOut(&list, "clients", "list")
	if len(list) != 1 || list[0]["client_id"] != "orders-api" {
		t.Fatalf("list = %v", list)
	}

	created = nil
	c.jsonOut(&created, "clients", "create", "--id", "mobile", "--public", "--redirect-uri", "com.example.app:/cb",
		"--post-logout-redirect-uri", "com.example.app:/bye", "--scopes", "openid offline_access")
	client, _ = created["client"].(map[string]any)
	if client["public"] != true || created["client_secret"] != nil || client["token_endpoint_auth_method"] != "none" {
		t.Fatalf("public client = %v", created)
	}

	for name, args := range map[string][]string{
		"short secret":      {"clients", "create", "--id", "x", "--secret", "short", "--grant-types", "client_credentials", "--scopes", ""},
		"duplicate id":      {"clients", "create", "--id", "mobile", "--public", "--redirect-uri", "com.example.app:/cb"},
		"http redirect":     {"clients", "create", "--id", "y", "--public", "--redirect-uri", "http://example.com/cb"},
		"unknown grant":     {"clients", "create", "--id", "z", "--grant-types", "password", "--scopes", ""},
		"public with creds": {"clients", "create", "--id", "w", "--public", "--grant-types", "client_credentials", "--scopes", ""},
		"unknown scope":     {"clients", "create", "--id", "v", "--grant-types", "client_credentials", "--scopes", "superpowers"},
		"no id":             {"clients", "create", "--grant-types", "client_credentials"},
		"unknown verb":      {"clients", "frobnicate"},
	} {
		if _, _, err := c.run("", args...); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	c.ok("", "clients", "delete", "--id", "mobile")
	if _, _, err := c.run("", "clients", "get", "--id", "mobile"); err == nil {
		t.Fatal("deleted client still found")
	}
}

func TestUsersAndRolesCommands(t *testing.T) {
	c := newCLI(t)
	var u map[string]any
	out := c.ok("a long enough passphrase\n", "--json", "users", "create", "--username", "alice", "--email", "alice@example.com", "--password-stdin", "--roles", "customer")
	if err := json.Unmarshal([]byte(out), &u); err != nil || u["username"] != "alice" {
		t.Fatalf("users create: %q", out)
	}
	if strings.Contains(out, "passphrase") {
		t.Fatal("the password was echoed")
	}
	if e := wantRecorded(t, c.sqliteStore(), manage.EventUserCreated, 1); e[0].Subject != u["id"] {
		t.Fatalf("user creation recorded for %q, want %v", e[0].Subject, u["id"])
	}
	if _, _, err := c.run("short\n", "users", "create", "--username", "bob", "--email", "bob@example.com", "--password-stdin"); err == nil {
		t.Fatal("a short password was accepted")
	}
	c.jsonOut(&u, "roles", "grant", "--user", "alice", "--role", "vendor")
	if roles := u["roles"].([]any); len(roles) != 2 {
		t.Fatalf("roles after grant = %v", roles)
	}
	c.jsonOut(&u, "roles", "revoke", "--user", "alice@example.com", "--role", "customer")
	if roles := u["roles"].([]any); len(roles) != 1 || roles[0] != "vendor" {
		t.Fatalf("roles after revoke = %v", roles)
	}
	if _, _, err := c.run("", "roles", "grant", "--user", "nobody", "--role", "admin"); err == nil {
		t.Fatal("granted a role to a missing user")
	}
	if _, _, err := c.run("", "roles", "grant", "--user", "alice", "--role", "Bad Role"); err == nil {
		t.Fatal("accepted a malformed role")
	}
}

func TestKeysAndMigrateCommands(t *testing.T) {
	c := newCLI(t)
	c.ok("", "migrate")
	// keys need the system secret: refused without one, fine with --dev.
	if _, _, err := c.run("", "keys", "rotate"); err == nil || !strings.Contains(err.Error(), "secrets.system") {
		t.Fatalf("keys rotate without a secret: %v", err)
	}
	var keys []map[string]any
	c.jsonOut(&keys, "keys", "rotate", "--dev")
	if len(keys) != 2 {
		t.Fatalf("rotate created %d keys, want one per algorithm", len(keys))
	}
	c.jsonOut(&keys, "keys", "list", "--dev")
	if len(keys) != 4 {
		t.Fatalf("keys list = %d keys, want 4", len(keys))
	}
}

func TestConfigErrors(t *testing.T) {
	c := newCLI(t)
	if _, _, err := c.run("", "--config", "/nonexistent.yaml", "clients", "list"); err == nil {
		t.Fatal("a missing --config file was accepted")
	}
	path := filepath.Join(t.TempDir(), "portero.yaml")
	if err := os.WriteFile(path, []byte("issuer: https://id.example.com\nhttp:\n  adress: :9\ndatabase:\n  max_open_conns: 0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := c.run("", "--config", path, "clients", "list")
	if err == nil || !strings.Contains(err.Error(), "http.adress") || !strings.Contains(err.Error(), "database.max_open_conns") {
		t.Fatalf("config errors not all reported: %v", err)
	}
	// serve refuses to start without a secret outside dev mode.
	if _, _, err := c.run("", "serve"); err == nil || !strings.Contains(err.Error(), "secrets.system") {
		t.Fatalf("serve without a secret: %v", err)
	}
	if _, _, err := c.run("", "frobnicate"); err == nil {
		t.Fatal("unknown command accepted")
	}
}

// TestVersion: `portero version`, `--version` and `--json version` say
// which build this is (under go test: "(devel)" and the Go version).
func TestVersion(t *testing.T) {
	c := newCLI(t)
	want := buildinfo.Read()
	for _, args := range [][]string{{"version"}, {"--version"}} {
		if out := c.ok("", args...); !strings.HasPrefix(out, "portero "+want.Version) || !strings.Contains(out, want.GoVersion) {
			t.Errorf("%v: %q", args, out)
		}
	}
	var got buildinfo.Info
	c.jsonOut(&got, "version")
	if got != want {
		t.Fatalf("--json version: %+v, want %+v", got, want)
	}
}

// TestDBGrants: `portero db grants` prints the runtime role's grants (the
// statements internal/store's TestRuntimeRoleCannotRewriteTheLedger
// applies) and refuses names that are not plain identifiers.
func TestDBGrants(t *testing.T) {
	c := newCLI(t)
	out := c.ok("", "db", "grants", "--role", "portero_app", "--schema", "portero")
	for _, want := range []string{"GRANT USAGE ON SCHEMA portero TO portero_app;", "REVOKE UPDATE, DELETE, TRUNCATE ON portero.ledger FROM portero_app;"} {
		if !strings.Contains(out, want) {
			t.Errorf("db grants lacks %q:\n%s", want, out)
		}
	}
	if _, _, err := c.run("", "db", "grants", "--role", "x; DROP TABLE ledger"); err == nil {
		t.Fatal("a role name with SQL in it was accepted")
	}
}

// TestMigrateIsExplicit: no administrator's command changes the schema; on
// a database behind the binary it says to run `portero migrate`, whose
// --plan lists what it would apply and changes nothing.
func TestMigrateIsExplicit(t *testing.T) {
	c := newBareCLI(t)
	if _, _, err := c.run("", "users", "list"); err == nil || !strings.Contains(err.Error(), "portero migrate") {
		t.Fatalf("users list on an unmigrated database: %v", err)
	}
	plan := c.ok("", "migrate", "--plan")
	if !strings.Contains(plan, "to apply (nothing changed") || !strings.Contains(plan, "00001_init.sql") {
		t.Fatalf("migrate --plan:\n%s", plan)
	}
	if _, _, err := c.run("", "users", "list"); err == nil {
		t.Fatal("migrate --plan migrated")
	}
	if out := c.ok("", "migrate"); !strings.Contains(out, "applied") || !strings.Contains(out, "00001_init.sql") {
		t.Fatalf("migrate:\n%s", out)
	}
	if out := c.ok("", "migrate"); !strings.Contains(out, "up to date") {
		t.Fatalf("migrate again:\n%s", out)
	}
	c.ok("", "users", "list")
}
