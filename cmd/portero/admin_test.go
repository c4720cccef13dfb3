package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/identity/calendar"
	"github.com/portero-id/portero/internal/adminview"
	"github.com/portero-id/portero/internal/manage"
	"github.com/portero-id/portero/internal/store"
	"github.com/portero-id/portero/internal/throttle"
)

// recorded returns the admin ledger entries of type typ, checking that
// each names the operator at the CLI.
func recorded(t *testing.T, st *store.Store, typ string) []identity.LedgerEntry {
	t.Helper()
	entries, err := st.LedgerEntries(context.Background(), identity.LedgerFilter{Types: []string{typ}, Limit: identity.LedgerMaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Actor, "cli:") || e.Actor != cliActor().ID {
			t.Errorf("%s entry %d: actor %q, want %q", typ, e.Seq, e.Actor, cliActor().ID)
		}
	}
	return entries
}

// wantRecorded fails unless the ledger has n entries of type typ.
func wantRecorded(t *testing.T, st *store.Store, typ string, n int) []identity.LedgerEntry {
	t.Helper()
	entries := recorded(t, st, typ)
	if len(entries) != n {
		t.Fatalf("ledger has %d %s entries, want %d", len(entries), typ, n)
	}
	return entries
}

func TestClientsThroughService(t *testing.T) {
	c := newCLI(t)
	st := c.sqliteStore()
	ctx := context.Background()

	var created adminview.ClientWithSecret
	c.jsonOut(&created, "clients", "create", "--id", "shop", "--name", "Shop", "--redirect-uri", "https://shop.example.com/cb",
		"--scopes", "openid profile", "--backchannel-logout-uri", "https://shop.example.com/bcl")
	if len(created.Secret) < 43 || created.Client.TokenEndpointAuthMethod != identity.AuthMethodBasic || created.Client.BackchannelLogoutURI != "https://shop.example.com/bcl" {
		t.Fatalf("created = %+v", created)
	}
	if e := wantRecorded(t, st, manage.EventClientCreated, 1)[0]; e.ClientID != "shop" {
		t.Fatalf("created entry names client %q", e.ClientID)
	}
	// A secret the operator chose is not echoed.
	var chosen map[string]any
	c.jsonOut(&chosen, "clients", "create", "--id", "batch", "--grant-types", "client_credentials", "--scopes", "openid",
		"--secret", strings.Repeat("s", 40))
	if _, shown := chosen["client_secret"]; shown || chosen["client"] == nil {
		t.Fatalf("a chosen secret was echoed: %v", chosen)
	}

	// update: only the flags given change; the rest is kept.
	var updated adminview.Client
	var raw map[string]any
	c.jsonOut(&raw, "clients", "update", "--id", "shop", "--name", "Shop 2", "--first-party")
	if _, shown := raw["client_secret"]; shown {
		t.Fatalf("update showed a secret: %v", raw)
	}
	c.jsonOut(&updated, "clients", "get", "shop")
	if updated.Name != "Shop 2" || !updated.FirstParty || !slices.Equal(updated.RedirectURIs, []string{"https://shop.example.com/cb"}) ||
		!slices.Equal(updated.Scopes, []string{"openid", "profile"}) || updated.BackchannelLogoutURI == "" {
		t.Fatalf("updated = %+v", updated)
	}
	c.jsonOut(&updated, "clients", "update", "--id", "shop", "--scopes", "openid", "--first-party=false", "--token-rate-limit", "6000")
	if updated.Name != "Shop 2" || updated.FirstParty || !slices.Equal(updated.Scopes, []string{"openid"}) || updated.TokenRateLimit != 6000 {
		t.Fatalf("second update = %+v", updated)
	}
	wantRecorded(t, st, manage.EventClientUpdated, 2)
	for name, args := range map[string][]string{
		"public flip":  {"clients", "update", "--id", "shop", "--public"},
		"secret":       {"clients", "update", "--id", "shop", "--secret", strings.Repeat("x", 40)},
		"bad scope":    {"clients", "update", "--id", "shop", "--scopes", "superpowers"},
		"bad quota":    {"clients", "update", "--id", "shop", "--token-rate-limit", "-5"},
		"missing":      {"clients", "update", "--id", "nope", "--name", "x"},
		"no id":        {"clients", "update", "--name", "x"},
		"rotate nope":  {"clients", "rotate-secret", "nope"},
		"disable nope": {"clients", "disable", "--id", "nope"},
	} {
		if _, _, err := c.run("", args...); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	wantRecorded(t, st, manage.EventClientUpdated, 2)

	// rotate-secret: a new secret, shown once; the stored digest changes.
	before, err := st.ClientByID(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	var rotated adminview.ClientWithSecret
	c.jsonOut(&rotated, "clients", "rotate-secret", "shop")
	after, err := st.ClientByID(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	if len(rotated.Secret) < 43 || rotated.Secret == created.Secret || bytes.Equal(before.SecretHash, after.SecretHash) {
		t.Fatalf("rotate-secret: secret %q, digest changed %v", rotated.Secret, !bytes.Equal(before.SecretHash, after.SecretHash))
	}
	wantRecorded(t, st, manage.EventClientSecret, 1)
	if _, _, err := c.run("", "clients", "rotate-secret", "--id", "mobile"); err == nil {
		t.Fatal("rotated the secret of a missing client")
	}

	// disable and enable (the positional id and a trailing flag work too).
	out := c.ok("", "clients", "disable", "shop")
	if !strings.Contains(out, "client_cache_ttl") {
		t.Errorf("disable does not say when servers see it: %q", out)
	}
	if got, _ := st.ClientByID(ctx, "shop"); !got.Disabled {
		t.Fatal("client not disabled in the store")
	}
	var enabled adminview.Client
	c.jsonOut(&enabled, "clients", "enable", "shop", "--json")
	if got, _ := st.ClientByID(ctx, "shop"); got.Disabled || enabled.Disabled {
		t.Fatal("client not enabled")
	}
	wantRecorded(t, st, manage.EventClientDisabled, 1)
	wantRecorded(t, st, manage.EventClientEnabled, 1)

	var list []adminview.Client
	c.jsonOut(&list, "clients", "list", "--q", "SHO")
	if len(list) != 1 || list[0].ID != "shop" {
		t.Fatalf("list --q = %+v", list)
	}
	c.ok("", "clients", "delete", "batch")
	if _, err := st.ClientByID(ctx, "batch"); !errors.Is(err, identity.ErrNotFound) {
		t.Fatalf("deleted client: %v", err)
	}
	wantRecorded(t, st, manage.EventClientDeleted, 1)
}

func TestUsersThroughService(t *testing.T) {
	c := newCLI(t)
	st := c.sqliteStore()
	ctx := context.Background()
	c.ok("", "users", "create", "--username", "root", "--email", "root@example.com", "--roles", "super_admin")
	c.ok("a long enough passphrase\n", "users", "create", "--username", "alice", "--email", "alice@example.com", "--password-stdin", "--roles", "customer")
	c.ok("", "users", "create", "--username", "bob", "--email", "bob@example.com", "--roles", "vendor")
	alice, err := st.UserByLogin(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}

	// get, with the second factors; by username, e-mail or id.
	if err := st.ReplaceRecoveryCodes(ctx, alice.ID, []string{"h1", "h2", "h3"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{"alice", "ALICE@example.com", alice.ID} {
		var v adminview.User
		c.jsonOut(&v, "users", "get", ref)
		if v.ID != alice.ID || !v.HasPassword || v.MFA == nil || v.MFA.RecoveryCodes != 3 {
			t.Fatalf("get %s = %+v", ref, v)
		}
	}
	if _, _, err := c.run("", "users", "get", "nobody"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("get of a missing user: %v", err)
	}

	// sessions, and revoke one, then all.
	for _, id := range []string{"s1", "s2", "s3"} {
		if err := st.CreateSession(ctx, &identity.Session{ID: id, UserID: alice.ID, AuthTime: time.Now(), AMR: []string{"pwd"},
			ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	var sessions []adminview.Session
	c.jsonOut(&sessions, "users", "sessions", "alice")
	if len(sessions) != 3 {
		t.Fatalf("sessions = %+v", sessions)
	}
	c.ok("", "users", "revoke-sessions", "--session", "s2", "alice")
	c.jsonOut(&sessions, "users", "sessions", "alice")
	if len(sessions) != 2 || slices.ContainsFunc(sessions, func(s adminview.Session) bool { return s.ID == "s2" }) {
		t.Fatalf("after revoking s2: %+v", sessions)
	}
	if _, _, err := c.run("", "users", "revoke-sessions", "alice"); err == nil {
		t.Fatal("revoke-sessions without --session or --all was accepted")
	}
	c.ok("", "users", "revoke-sessions", "--all", "alice")
	if left, _ := st.SessionsByUser(ctx, alice.ID); len(left) != 0 {
		t.Fatalf("sessions left: %d", len(left))
	}
	wantRecorded(t, st, manage.EventSessionRevoked, 1)
	wantRecorded(t, st, manage.EventSessionsRevoked, 1)

	// disable ends the sessions; enable.
	if err := st.CreateSession(ctx, &identity.Session{ID: "s4", UserID: alice.ID, AuthTime: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	var v adminview.User
	c.jsonOut(&v, "users", "disable", "alice@example.com")
	if u, _ := st.UserByID(ctx, alice.ID); !u.Disabled || !v.Disabled {
		t.Fatal("not disabled")
	}
	if left, _ := st.SessionsByUser(ctx, alice.ID); len(left) != 0 {
		t.Fatal("disabling kept the sessions")
	}
	e := wantRecorded(t, st, manage.EventUserDisabled, 1)[0]
	if e.Subject != alice.ID {
		t.Fatalf("disabled entry about %q", e.Subject)
	}
	var list []adminview.User
	c.jsonOut(&list, "users", "list", "--disabled")
	if len(list) != 1 || list[0].Username != "alice" {
		t.Fatalf("list --disabled = %+v", list)
	}
	c.jsonOut(&list, "users", "list", "--disabled=false")
	if len(list) != 2 {
		t.Fatalf("list --disabled=false = %+v", list)
	}
	c.jsonOut(&v, "users", "enable", "alice")
	if u, _ := st.UserByID(ctx, alice.ID); u.Disabled {
		t.Fatal("not enabled")
	}
	wantRecorded(t, st, manage.EventUserEnabled, 1)

	// list filters.
	c.jsonOut(&list, "users", "list", "--q", "EXAMPLE.com", "--limit", "2")
	if len(list) != 2 || list[0].Username != "alice" || list[1].Username != "bob" {
		t.Fatalf("list --limit 2 = %+v", list)
	}
	c.jsonOut(&list, "users", "list", "--role", "vendor")
	if len(list) != 1 || list[0].Username != "bob" {
		t.Fatalf("list --role vendor = %+v", list)
	}
	if _, _, err := c.run("", "users", "list", "--limit", "0"); err == nil {
		t.Fatal("--limit 0 accepted")
	}

	// unlock: without Redis the counters are in the server's memory; the
	// CLI says so and records no unlock that did not happen.
	if _, _, err := c.run("", "users", "unlock", "alice"); !errors.Is(err, manage.ErrNoLockouts) || !strings.Contains(err.Error(), "/unlock") {
		t.Fatalf("unlock without Redis: %v", err)
	}
	wantRecorded(t, st, manage.EventUserUnlocked, 0)

	// reset-mfa removes the recovery codes.
	c.jsonOut(&v, "users", "reset-mfa", "alice")
	if f, _ := st.SecondFactors(ctx, alice.ID); f.RecoveryCodes != 0 || v.MFA == nil || v.MFA.RecoveryCodes != 0 {
		t.Fatalf("after reset-mfa: %+v, %+v", f, v.MFA)
	}
	wantRecorded(t, st, manage.EventMFAReset, 1)

	// consents: the read is recorded.
	c.ok("", "clients", "create", "--id", "shop", "--redirect-uri", "https://shop.example.com/cb")
	if err := st.PutScopeConsent(ctx, &identity.ScopeConsent{UserID: alice.ID, ClientID: "shop", Scopes: []string{"openid"}, GrantedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	var cs adminview.Consents
	c.jsonOut(&cs, "users", "consents", "alice")
	if len(cs.Scopes) != 1 || cs.Scopes[0].ClientID != "shop" {
		t.Fatalf("consents = %+v", cs)
	}
	wantRecorded(t, st, manage.EventConsentsRead, 1)
	// A username shaped like alice's id must not catch commands meant for
	// alice: the reference is refused as ambiguous.
	c.ok("", "users", "create", "--username", alice.ID, "--email", "mallory@example.com", "--roles", "customer")
	if _, _, err := c.run("", "roles", "grant", "--user", alice.ID, "--role", "vendor"); err == nil || !strings.Contains(err.Error(), "username of another user") {
		t.Fatalf("an ambiguous reference: %v", err)
	}

	// delete erases the account; the ledger keeps who did it.
	c.ok("", "users", "delete", "mallory@example.com")
	if _, _, err := c.run("", "users", "get", "mallory@example.com"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("get after delete: %v", err)
	}
	wantRecorded(t, st, manage.EventUserDeleted, 1)
}

// TestUnlockThroughRedis: with redis.url the CLI reaches the counters the
// replicas share. Runs when PORTERO_TEST_REDIS_URL is set.
func TestUnlockThroughRedis(t *testing.T) {
	url := os.Getenv("PORTERO_TEST_REDIS_URL")
	if url == "" {
		t.Skip("PORTERO_TEST_REDIS_URL is not set; skipping the Redis unlock test")
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	client := redis.NewClient(opts)
	t.Cleanup(func() { _ = client.Close() })
	prefix := fmt.Sprintf("portero-cli-test-%d:", time.Now().UnixNano())
	c := newCLI(t)
	c.env = append(c.env, "PORTERO_REDIS_URL="+url, "PORTERO_REDIS_KEY_PREFIX="+prefix)
	st := c.sqliteStore()
	ctx := context.Background()
	c.ok("", "users", "create", "--username", "alice", "--email", "alice@example.com")
	alice, err := st.UserByLogin(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}

	policy := throttle.Policy{BaseDelay: time.Minute, LockoutAfter: 1, LockoutFor: time.Hour, Window: time.Hour}
	guard := &throttle.Guard{Store: throttle.NewRedis(client, prefix+"throttle:"), Account: policy}
	if _, err := guard.Fail(ctx, identity.PasswordGuardKey(alice.ID), ""); err != nil {
		t.Fatal(err)
	}
	if d, err := guard.Check(ctx, identity.PasswordGuardKey(alice.ID), ""); err != nil || d.Allowed {
		t.Fatalf("before unlock: %+v, %v", d, err)
	}
	c.ok("", "users", "unlock", "alice")
	if d, err := guard.Check(ctx, identity.PasswordGuardKey(alice.ID), ""); err != nil || !d.Allowed {
		t.Fatalf("after unlock: %+v, %v", d, err)
	}
	wantRecorded(t, st, manage.EventUserUnlocked, 1)
}

func TestRolesThroughService(t *testing.T) {
	c := newCLI(t)
	st := c.sqliteStore()
	ctx := context.Background()
	c.ok("", "users", "create", "--username", "root", "--email", "root@example.com", "--roles", "super_admin")
	c.ok("", "users", "create", "--username", "alice", "--email", "alice@example.com")

	var u adminview.User
	c.jsonOut(&u, "roles", "grant", "--user", "alice", "--role", "admin")
	if got, _ := st.UserByLogin(ctx, "alice"); !got.HasRole("admin") || !slices.Contains(u.Roles, "admin") {
		t.Fatalf("grant: %+v", u)
	}
	if e := wantRecorded(t, st, manage.EventRoleGranted, 1)[0]; !strings.Contains(string(e.Payload), `"admin"`) {
		t.Fatalf("granted entry payload %s", e.Payload)
	}
	c.jsonOut(&u, "roles", "revoke", "--user", "alice@example.com", "--role", "admin")
	if got, _ := st.UserByLogin(ctx, "alice"); got.HasRole("admin") {
		t.Fatal("revoke left the role")
	}
	wantRecorded(t, st, manage.EventRoleRevoked, 1)

	// The only super_admin keeps the role, and the error says why.
	_, _, err := c.run("", "roles", "revoke", "--user", "root", "--role", "super_admin")
	if !errors.Is(err, identity.ErrLastSuperAdmin) || !strings.Contains(err.Error(), "last super_admin") {
		t.Fatalf("revoking the last super_admin: %v", err)
	}
	if root, _ := st.UserByLogin(ctx, "root"); !root.HasRole(identity.RoleSuperAdmin) {
		t.Fatal("the last super_admin lost the role")
	}
	wantRecorded(t, st, manage.EventRoleRevoked, 1)
	// Disabling them is refused as well.
	if _, _, err := c.run("", "users", "disable", "root"); !errors.Is(err, identity.ErrLastSuperAdmin) {
		t.Fatalf("disabling the last super_admin: %v", err)
	}

	// define, get, delete; a held role cannot be deleted.
	var roles []adminview.Role
	c.jsonOut(&roles, "roles", "define", "--name", "support", "--permissions", "tickets:write")
	if len(roles) != 1 || !slices.Equal(roles[0].Permissions, []string{"tickets:write"}) {
		t.Fatalf("define = %+v", roles)
	}
	wantRecorded(t, st, manage.EventRoleDefined, 1)
	c.jsonOut(&roles, "roles", "get", "support")
	if len(roles) != 1 || roles[0].Name != "support" {
		t.Fatalf("get = %+v", roles)
	}
	c.ok("", "roles", "grant", "--user", "alice", "--role", "support")
	if _, _, err := c.run("", "roles", "delete", "support"); !errors.Is(err, identity.ErrConflict) {
		t.Fatalf("deleting a held role: %v", err)
	}
	c.ok("", "roles", "revoke", "--user", "alice", "--role", "support")
	c.ok("", "roles", "delete", "--name", "support")
	if _, _, err := c.run("", "roles", "get", "support"); !errors.Is(err, identity.ErrNotFound) {
		t.Fatalf("get of a deleted role: %v", err)
	}
	wantRecorded(t, st, manage.EventRoleDeleted, 1)
}

func TestKeysRotateRecorded(t *testing.T) {
	c := newCLI(t)
	st := c.sqliteStore()
	var keys []adminview.Key
	c.jsonOut(&keys, "keys", "rotate", "--dev")
	if len(keys) != 2 {
		t.Fatalf("rotate = %+v", keys)
	}
	e := wantRecorded(t, st, manage.EventKeysRotated, 1)[0]
	for _, k := range keys {
		if !strings.Contains(string(e.Payload), k.ID) {
			t.Fatalf("entry %s does not name key %s", e.Payload, k.ID)
		}
	}
	c.jsonOut(&keys, "keys", "list", "--dev")
	if len(keys) != 4 {
		t.Fatalf("list = %d keys", len(keys))
	}
	wantRecorded(t, st, manage.EventKeysRotated, 1)
}

func TestRequestsAndEventsCommands(t *testing.T) {
	c := newCLI(t)
	st := c.sqliteStore()
	ctx := context.Background()
	c.ok("", "users", "create", "--username", "bob", "--email", "bob@example.com")
	c.ok("", "users", "create", "--username", "carol", "--email", "carol@example.com")
	bob, _ := st.UserByLogin(ctx, "bob")
	carol, _ := st.UserByLogin(ctx, "carol")
	reqs := &identity.Requests{Store: st, Calendar: calendar.New(nil), Now: time.Now}
	file := func(userID, typ string) string {
		d, err := reqs.File(ctx, identity.RequestActor{}, userID, typ, "please")
		if err != nil {
			t.Fatal(err)
		}
		return d.ID
	}
	know, rectify, erase := file(bob.ID, identity.RequestKnow), file(bob.ID, identity.RequestRectify), file(carol.ID, identity.RequestDelete)

	var list []adminview.DataRequest
	c.jsonOut(&list, "requests", "list", "--status", "open", "--kind", "reclamo")
	if len(list) != 2 || !slices.ContainsFunc(list, func(v adminview.DataRequest) bool { return v.ID == rectify }) ||
		!slices.ContainsFunc(list, func(v adminview.DataRequest) bool { return v.ID == erase }) {
		t.Fatalf("list open reclamos = %+v", list)
	}
	c.jsonOut(&list, "requests", "list", "--user", "bob")
	if len(list) != 2 {
		t.Fatalf("list --user bob = %+v", list)
	}
	if _, _, err := c.run("", "requests", "list", "--status", "pending"); err == nil {
		t.Fatal("an unknown status was accepted")
	}

	// get records the read and shows the history.
	var d adminview.DataRequestDetail
	c.jsonOut(&d, "requests", "get", know)
	if d.ID != know || len(d.History) != 2 || d.History[0].Type != identity.RequestFiledEvent ||
		d.History[1].Type != identity.RequestViewedEvent {
		t.Fatalf("get = %+v", d)
	}
	if n := len(recorded(t, st, identity.RequestViewedEvent)); n != 1 {
		t.Fatalf("%d views recorded", n)
	}

	c.jsonOut(&d, "requests", "extend", "--reason", "we need the archive", know)
	if d.Status != identity.RequestExtended || d.ExtendedDueAt == nil {
		t.Fatalf("extend = %+v", d)
	}
	if _, _, err := c.run("", "requests", "extend", know); err == nil {
		t.Fatal("extend without --reason was accepted")
	}
	if _, _, err := c.run("", "requests", "refuse", "--code", identity.RefusalLegalDuty, "--answer", "no", know); err == nil {
		t.Fatal("a refusal code that does not apply was accepted")
	}
	c.jsonOut(&d, "requests", "refuse", "--code", identity.RefusalNotOwner, "--answer", "not your data", know)
	if d.Status != identity.RequestRefused || d.RefusalReason != identity.RefusalNotOwner {
		t.Fatalf("refuse = %+v", d)
	}

	c.jsonOut(&d, "requests", "info", "--info-needed", "which field is wrong?", rectify)
	if d.Status != identity.RequestInfoRequested || d.InfoNeeded == "" {
		t.Fatalf("info = %+v", d)
	}
	c.jsonOut(&d, "requests", "dispute", "--on", rectify)
	if !d.JudicialDispute {
		t.Fatalf("dispute --on = %+v", d)
	}
	c.jsonOut(&d, "requests", "dispute", "--on", rectify) // no change, no error
	if _, _, err := c.run("", "requests", "dispute", rectify); err == nil {
		t.Fatal("dispute without --on or --off was accepted")
	}

	// Answering a deletion request erases the account.
	c.jsonOut(&d, "requests", "answer", "--answer", "done", erase)
	if d.Status != identity.RequestAnswered {
		t.Fatalf("answer = %+v", d)
	}
	if _, err := st.UserByID(ctx, carol.ID); !errors.Is(err, identity.ErrNotFound) {
		t.Fatalf("carol after her deletion request was answered: %v", err)
	}
	if deleted := recorded(t, st, identity.AuditAccountDeleted); len(deleted) != 1 || deleted[0].Subject != carol.ID {
		t.Fatalf("account deletion entries: %+v", deleted)
	}

	// Every step is on record with the CLI's actor.
	for _, typ := range []string{identity.RequestExtendedEvent, identity.RequestRefusedEvent, identity.RequestInfoRequestedEvent,
		identity.RequestDisputeSetEvent, identity.RequestAnsweredEvent} {
		if n := len(recorded(t, st, typ)); n != 1 {
			t.Errorf("%d %s entries", n, typ)
		}
	}

	// events: the ledger, newest first, filtered.
	var events []adminview.Event
	c.jsonOut(&events, "events", "--actor", cliActor().ID, "--kind", identity.LedgerRequest)
	if len(events) != 5 || events[0].Type != identity.RequestAnsweredEvent {
		t.Fatalf("events --actor --kind request = %+v", events)
	}
	for i := 1; i < len(events); i++ {
		if events[i].Seq >= events[i-1].Seq {
			t.Fatal("events are not newest first")
		}
	}
	c.jsonOut(&events, "events", "--subject", "bob", "--type", identity.RequestFiledEvent+","+identity.RequestRefusedEvent, "--limit", "1")
	if len(events) != 1 || events[0].Type != identity.RequestRefusedEvent || events[0].Subject != bob.ID {
		t.Fatalf("events --subject bob --limit 1 = %+v", events)
	}
	// An erased user's id still finds their entries.
	c.jsonOut(&events, "events", "--subject", carol.ID, "--since", time.Now().Add(-time.Hour).Format(time.RFC3339))
	if len(events) == 0 {
		t.Fatal("no entries about the erased user")
	}
	c.jsonOut(&events, "events", "--until", time.Now().Add(-time.Hour).Format(time.RFC3339))
	if len(events) != 0 {
		t.Fatalf("events --until an hour ago = %+v", events)
	}
	if _, _, err := c.run("", "events", "--since", "yesterday"); err == nil {
		t.Fatal("a bad --since was accepted")
	}
	if out := c.ok("", "events", "--type", identity.RequestAnsweredEvent); !strings.HasPrefix(out, "SEQ") ||
		!strings.Contains(out, identity.RequestAnsweredEvent) {
		t.Fatalf("text output: %q", out)
	}
}

// TestTokensRevoke: `portero tokens revoke` ends the grants selected by
// client, user and issue time, refuses to select everything by accident,
// and records each revocation in the ledger.
func TestTokensRevoke(t *testing.T) {
	c := newCLI(t)
	c.ok("", "users", "create", "--username", "alice", "--email", "alice@example.com")
	st := c.sqliteStore()
	ctx := context.Background()
	alice, err := st.UserByLogin(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	mk := func(sig, client, subject string, at time.Time) {
		if err := st.CreateGrant(ctx, &identity.Grant{Kind: identity.GrantRefreshToken, Signature: sig, RequestID: "r-" + sig,
			ClientID: client, Subject: subject, Active: true, RequestedAt: at, ExpiresAt: at.Add(24 * time.Hour), Data: []byte("{}")}); err != nil {
			t.Fatal(err)
		}
	}
	mk("s1", "shop", alice.ID, base)
	mk("s2", "shop", "someone", base)
	mk("b1", "blog", "someone", base.Add(2*time.Hour))
	mk("b2", "blog", alice.ID, base.Add(3*time.Hour))
	active := func(sig string) bool {
		g, err := st.GrantBySignature(ctx, identity.GrantRefreshToken, sig)
		if err != nil {
			t.Fatal(err)
		}
		return g.Active
	}
	if _, _, err := c.run("", "tokens", "revoke"); err == nil {
		t.Fatal("a revocation without a selection ran")
	}
	var out map[string]int64
	c.jsonOut(&out, "tokens", "revoke", "--client", "shop")
	if out["tokens_revoked"] != 2 || active("s1") || active("s2") || !active("b1") {
		t.Fatalf("--client shop: %v", out)
	}
	c.jsonOut(&out, "tokens", "revoke", "--user", "alice@example.com")
	if out["tokens_revoked"] != 1 || active("b2") || !active("b1") {
		t.Fatalf("--user alice: %v", out)
	}
	c.jsonOut(&out, "tokens", "revoke", "--issued-before", base.Add(150*time.Minute).Format(time.RFC3339))
	if out["tokens_revoked"] != 1 || active("b1") {
		t.Fatalf("--issued-before: %v", out)
	}
	if _, _, err := c.run("", "tokens", "revoke", "--issued-before", "yesterday"); err == nil {
		t.Fatal("a malformed time was accepted")
	}
	wantRecorded(t, st, manage.EventTokensRevoked, 3)
}
