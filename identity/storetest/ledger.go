package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portero-id/portero/identity"
)

var ledgerTests = []struct {
	name string
	fn   func(*testing.T, identity.Store)
}{
	{"ledger append fills seq, prev hash and hash; the chain verifies", testLedgerAppend},
	{"ledger entry round-trips every field exactly", testLedgerRoundTrip},
	{"ledger filters", testLedgerFilters},
	{"ledger concurrent appends form one unbroken chain", testLedgerConcurrent},
	{"ledger append joins the caller's transaction", testLedgerInTx},
	{"ledger walk reads every entry in order, in batches", testLedgerWalk},
	{"audit events are ledger entries of kind audit", testAuditOnLedger},
}

// ledgerEntry is an entry with every field set.
func ledgerEntry(kind, typ, subject string) *identity.LedgerEntry {
	return &identity.LedgerEntry{
		OccurredAt: base, Kind: kind, Type: typ, Subject: subject, Actor: "", ClientID: "shop",
		IP: "192.0.2.10", UserAgent: "Mozilla/5.0 (X11; Linux x86_64)", Locale: "es-CO",
		Payload: []byte(`{"k":"v"}`),
	}
}

func mustAppend(t *testing.T, s identity.Store, e *identity.LedgerEntry) {
	t.Helper()
	noErr(t, "AppendLedger", s.AppendLedger(t.Context(), e))
}

func mustVerify(t *testing.T, s identity.Store, want int64) {
	t.Helper()
	n, err := identity.VerifyLedger(t.Context(), s)
	if err != nil || n != want {
		t.Fatalf("VerifyLedger = %d, %v; want %d, nil", n, err, want)
	}
}

func seqs(entries []identity.LedgerEntry) []int64 {
	out := make([]int64, len(entries))
	for i, e := range entries {
		out[i] = e.Seq
	}
	return out
}

func testLedgerAppend(t *testing.T, s identity.Store) {
	ctx := t.Context()
	mustVerify(t, s, 0)
	var appended []*identity.LedgerEntry
	for i, kind := range []string{identity.LedgerAudit, identity.LedgerConsent, identity.LedgerRequest, identity.LedgerAdmin} {
		e := ledgerEntry(kind, "test.event", "u-alice")
		mustAppend(t, s, e)
		prev := identity.LedgerGenesis
		if i > 0 {
			prev = appended[i-1].Hash
		}
		if e.Seq != int64(i+1) || e.PrevHash != prev || len(e.Hash) != 64 || e.Hash != e.ComputeHash() {
			t.Fatalf("entry %d: Seq %d, PrevHash %s, Hash %s; want seq %d after %s", i, e.Seq, e.PrevHash, e.Hash, i+1, prev)
		}
		appended = append(appended, e)
	}
	mustVerify(t, s, 4)

	// A refused entry leaves the caller's struct and the chain alone.
	bad := ledgerEntry(identity.LedgerAudit, "test.event", "u-alice")
	bad.Payload = []byte(`[1]`)
	if err := s.AppendLedger(ctx, bad); err == nil {
		t.Fatal("a payload that is not a JSON object was accepted")
	}
	if bad.Seq != 0 || bad.Hash != "" {
		t.Fatalf("refused entry was changed: %+v", bad)
	}
	unknown := ledgerEntry("gossip", "test.event", "u-alice")
	if err := s.AppendLedger(ctx, unknown); err == nil {
		t.Fatal("an unknown kind was accepted")
	}
	// A zero time is set to now; an empty payload to {}.
	before := time.Now().Add(-time.Second)
	e := &identity.LedgerEntry{Kind: identity.LedgerAdmin, Type: "admin.test"}
	mustAppend(t, s, e)
	if e.Seq != 5 || e.OccurredAt.Before(before) || e.OccurredAt.After(time.Now().Add(time.Second)) || string(e.Payload) != "{}" {
		t.Fatalf("defaults: %+v", e)
	}
	got, err := s.LedgerEntries(ctx, identity.LedgerFilter{AfterSeq: 4})
	noErr(t, "LedgerEntries", err)
	if len(got) != 1 {
		t.Fatalf("LedgerEntries(after 4) = %v", seqs(got))
	}
	checkFields(t, "defaulted entry", got[0], *e)
	mustVerify(t, s, 5)
}

func testLedgerRoundTrip(t *testing.T, s identity.Store) {
	ctx := t.Context()
	// Payload bytes as given: odd spacing, unsorted keys, escapes next to
	// raw UTF-8, a trailing newline.
	payload := "{ \"z\" : 1,\"a\":[true ,null],\n\t\"texto\":\"Autorizo el tratamiento de mis datos — ñandú 日本 🇨🇴\",\"esc\":\"\\u00e9\\n\" }\n"
	e := &identity.LedgerEntry{
		OccurredAt: base, Kind: identity.LedgerConsent, Type: "consent.accepted", Subject: "u-josé",
		Actor: "representative", ClientID: "tienda-ñ", IP: "2001:db8::1", UserAgent: "Navegador/1.0 (Español; 日本語)",
		Locale: "es-CO", Payload: []byte(payload),
	}
	want := *e
	mustAppend(t, s, e)
	want.Seq, want.PrevHash, want.Hash = 1, identity.LedgerGenesis, e.Hash
	want.OccurredAt = base.UTC().Truncate(time.Microsecond)
	checkFields(t, "appended", *e, want)
	if e.OccurredAt != want.OccurredAt {
		t.Errorf("OccurredAt = %#v, want exactly %#v", e.OccurredAt, want.OccurredAt)
	}

	// Invalid UTF-8 (a user agent cut in the middle of a character) is
	// stored as U+FFFD on every database, and the stored text is what was
	// hashed.
	cut := &identity.LedgerEntry{Kind: identity.LedgerAudit, Type: "login.success", UserAgent: "Agente/ñ"[:8] + "\x00"}
	mustAppend(t, s, cut)
	if cut.UserAgent != "Agente/\uFFFD\uFFFD" {
		t.Fatalf("UserAgent = %q", cut.UserAgent)
	}

	got, err := s.LedgerEntries(ctx, identity.LedgerFilter{})
	noErr(t, "LedgerEntries", err)
	if len(got) != 2 {
		t.Fatalf("LedgerEntries = %v", seqs(got))
	}
	checkFields(t, "LedgerEntries[0]", got[0], want)
	checkFields(t, "LedgerEntries[1]", got[1], *cut)
	checkUTC(t, "LedgerEntries", got[0].OccurredAt, got[1].OccurredAt)
	if string(got[0].Payload) != payload {
		t.Fatalf("payload = %q, want the exact bytes %q", got[0].Payload, payload)
	}
	if !got[0].OccurredAt.Equal(want.OccurredAt) || got[0].OccurredAt.Nanosecond() != want.OccurredAt.Nanosecond() {
		t.Fatalf("OccurredAt = %v, want %v", got[0].OccurredAt, want.OccurredAt)
	}
	var walked []identity.LedgerEntry
	noErr(t, "WalkLedger", s.WalkLedger(ctx, func(e identity.LedgerEntry) error {
		walked = append(walked, e)
		return nil
	}))
	if len(walked) != 2 {
		t.Fatalf("WalkLedger saw %v", seqs(walked))
	}
	checkFields(t, "WalkLedger[0]", walked[0], want)
	mustVerify(t, s, 2)
}

func testLedgerFilters(t *testing.T, s identity.Store) {
	ctx := t.Context()
	type row struct {
		kind, typ, subject, actor, client string
		minute                            int
	}
	rows := []row{
		{identity.LedgerAudit, "login.success", "u-alice", "", "", 0},                        // 1
		{identity.LedgerConsent, "consent.accepted", "u-alice", "", "shop", 1},               // 2
		{identity.LedgerAudit, "login.failure", "u-bob", "", "", 2},                          // 3
		{identity.LedgerAdmin, "admin.user_read", "u-bob", "admin:u-root", "", 3},            // 4
		{identity.LedgerConsent, "consent.denied", "u-bob", "representative", "mobile", 4},   // 5
		{identity.LedgerAudit, "login.success", "u-alice", "", "", 5},                        // 6
		{identity.LedgerRequest, "request.received", "u-alice", "", "", 6},                   // 7
		{identity.LedgerConsent, "consent.accepted", "u-carol", "client:shop", "shop", 7},    // 8
		{identity.LedgerAudit, "login.success", "", "system", "", 8},                         // 9
		{identity.LedgerAdmin, "admin.user_read", "u-alice", "admin:u-root", "", 9},          // 10
		{identity.LedgerConsent, "consent.accepted", "u-alice", "representative", "shop", 9}, // 11: same minute
	}
	for _, r := range rows {
		e := ledgerEntry(r.kind, r.typ, r.subject)
		e.Actor, e.ClientID, e.OccurredAt = r.actor, r.client, base.Add(time.Duration(r.minute)*time.Minute)
		mustAppend(t, s, e)
	}
	at := func(minute int) time.Time { return base.Add(time.Duration(minute) * time.Minute) }
	for _, tc := range []struct {
		name string
		f    identity.LedgerFilter
		want []int64
	}{
		{"all", identity.LedgerFilter{}, []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}},
		{"subject", identity.LedgerFilter{Subject: "u-alice"}, []int64{1, 2, 6, 7, 10, 11}},
		{"kind", identity.LedgerFilter{Kind: identity.LedgerConsent}, []int64{2, 5, 8, 11}},
		{"subject and kind", identity.LedgerFilter{Subject: "u-alice", Kind: identity.LedgerConsent}, []int64{2, 11}},
		{"one type", identity.LedgerFilter{Types: []string{"login.success"}}, []int64{1, 6, 9}},
		{"types", identity.LedgerFilter{Types: []string{"consent.denied", "login.failure", "nothing"}}, []int64{3, 5}},
		{"actor", identity.LedgerFilter{Actor: "admin:u-root"}, []int64{4, 10}},
		{"representative", identity.LedgerFilter{Actor: "representative"}, []int64{5, 11}},
		{"client", identity.LedgerFilter{ClientID: "shop"}, []int64{2, 8, 11}},
		{"since (inclusive)", identity.LedgerFilter{Since: at(8)}, []int64{9, 10, 11}},
		{"until (exclusive)", identity.LedgerFilter{Until: at(2)}, []int64{1, 2}},
		{"since and until", identity.LedgerFilter{Since: at(3), Until: at(5)}, []int64{4, 5}},
		{"since in another zone", identity.LedgerFilter{Since: at(9).In(time.UTC)}, []int64{10, 11}},
		{"since within a microsecond", identity.LedgerFilter{Since: at(9).Truncate(time.Microsecond).Add(time.Microsecond)}, nil},
		{"after seq", identity.LedgerFilter{AfterSeq: 8}, []int64{9, 10, 11}},
		{"after seq with limit", identity.LedgerFilter{AfterSeq: 3, Limit: 2}, []int64{4, 5}},
		{"newest", identity.LedgerFilter{Newest: true, Limit: 3}, []int64{11, 10, 9}},
		{"newest before seq", identity.LedgerFilter{Newest: true, BeforeSeq: 9, Limit: 3}, []int64{8, 7, 6}},
		{"newest of a subject", identity.LedgerFilter{Subject: "u-bob", Newest: true}, []int64{5, 4, 3}},
		{"everything at once", identity.LedgerFilter{Subject: "u-alice", Kind: identity.LedgerConsent, Actor: "representative",
			ClientID: "shop", Types: []string{"consent.accepted"}, Since: at(1), Until: at(10), AfterSeq: 2}, []int64{11}},
		{"no match", identity.LedgerFilter{Subject: "u-nobody"}, nil},
	} {
		got, err := s.LedgerEntries(ctx, tc.f)
		noErr(t, "LedgerEntries("+tc.name+")", err)
		if fmt.Sprint(seqs(got)) != fmt.Sprint(tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
			t.Errorf("%s: seqs %v, want %v", tc.name, seqs(got), tc.want)
		}
	}
	// Paging through everything in seq order.
	var paged []int64
	for after := int64(0); ; {
		page, err := s.LedgerEntries(ctx, identity.LedgerFilter{AfterSeq: after, Limit: 4})
		noErr(t, "LedgerEntries(page)", err)
		paged = append(paged, seqs(page)...)
		if len(page) < 4 {
			break
		}
		after = page[len(page)-1].Seq
	}
	if fmt.Sprint(paged) != "[1 2 3 4 5 6 7 8 9 10 11]" {
		t.Errorf("paged = %v", paged)
	}
}

func testLedgerConcurrent(t *testing.T, s identity.Store) {
	ctx := t.Context()
	var wg sync.WaitGroup
	errs := make(chan error, 2*concurrency)
	for i := range concurrency {
		wg.Go(func() {
			e := ledgerEntry(identity.LedgerAudit, "login.success", fmt.Sprintf("u-%d", i))
			errs <- s.AppendLedger(ctx, e)
		})
		// Appends inside transactions that also write something else,
		// half of them rolled back.
		wg.Go(func() {
			err := s.InTx(ctx, func(ctx context.Context) error {
				e := ledgerEntry(identity.LedgerConsent, "consent.accepted", fmt.Sprintf("u-tx-%d", i))
				if err := s.AppendLedger(ctx, e); err != nil {
					return err
				}
				if err := s.CreateUser(ctx, newUser(fmt.Sprintf("tx%d", i))); err != nil {
					return err
				}
				if i%2 == 1 {
					return errRollback
				}
				return nil
			})
			if errors.Is(err, errRollback) {
				err = nil
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		noErr(t, "concurrent AppendLedger", err)
	}
	want := int64(concurrency + concurrency/2)
	mustVerify(t, s, want)
	all, err := s.LedgerEntries(ctx, identity.LedgerFilter{})
	noErr(t, "LedgerEntries", err)
	for i, e := range all {
		if e.Seq != int64(i+1) {
			t.Fatalf("seqs %v, want 1..%d", seqs(all), want)
		}
	}
	if int64(len(all)) != want {
		t.Fatalf("%d entries, want %d", len(all), want)
	}
}

var errRollback = errors.New("roll back")

func testLedgerInTx(t *testing.T, s identity.Store) {
	ctx := t.Context()
	// A rolled-back append leaves no entry and no gap.
	err := s.InTx(ctx, func(ctx context.Context) error {
		mustAppend2 := func(typ string) {
			noErr(t, "AppendLedger in tx", s.AppendLedger(ctx, ledgerEntry(identity.LedgerAudit, typ, "u-alice")))
		}
		mustAppend2("a")
		mustAppend2("b")
		got, err := s.LedgerEntries(ctx, identity.LedgerFilter{})
		noErr(t, "LedgerEntries in tx", err)
		if len(got) != 2 || got[1].Seq != 2 {
			t.Fatalf("inside the transaction: %v", seqs(got))
		}
		return errRollback
	})
	wantErr(t, "InTx", err, errRollback)
	mustVerify(t, s, 0)
	// A committed one is there, chained to what came before.
	mustAppend(t, s, ledgerEntry(identity.LedgerAudit, "first", "u-alice"))
	noErr(t, "InTx", s.InTx(ctx, func(ctx context.Context) error {
		return s.AppendLedger(ctx, ledgerEntry(identity.LedgerConsent, "second", "u-alice"))
	}))
	// BeginTx/CommitTx, as fosite's handlers use them.
	txCtx, err := s.BeginTx(ctx)
	noErr(t, "BeginTx", err)
	e := ledgerEntry(identity.LedgerConsent, "third", "u-alice")
	noErr(t, "AppendLedger(BeginTx)", s.AppendLedger(txCtx, e))
	noErr(t, "CommitTx", s.CommitTx(txCtx))
	if e.Seq != 3 {
		t.Fatalf("third entry has seq %d", e.Seq)
	}
	txCtx, err = s.BeginTx(ctx)
	noErr(t, "BeginTx", err)
	noErr(t, "AppendLedger(BeginTx)", s.AppendLedger(txCtx, ledgerEntry(identity.LedgerConsent, "rolled back", "u-alice")))
	noErr(t, "RollbackTx", s.RollbackTx(txCtx))
	mustAppend(t, s, ledgerEntry(identity.LedgerAudit, "fourth", "u-alice"))
	mustVerify(t, s, 4)
}

func testLedgerWalk(t *testing.T, s identity.Store) {
	ctx := t.Context()
	const n = 2345 // more than one batch in any reasonable implementation
	noErr(t, "InTx", s.InTx(ctx, func(ctx context.Context) error {
		for i := range n {
			e := ledgerEntry(identity.LedgerAudit, "bulk", fmt.Sprintf("u-%d", i))
			e.Payload = []byte(fmt.Sprintf(`{"i":%d}`, i))
			if err := s.AppendLedger(ctx, e); err != nil {
				return err
			}
		}
		return nil
	}))
	next := int64(1)
	noErr(t, "WalkLedger", s.WalkLedger(ctx, func(e identity.LedgerEntry) error {
		if e.Seq != next || string(e.Payload) != fmt.Sprintf(`{"i":%d}`, next-1) {
			return fmt.Errorf("walked to seq %d (%s), want %d", e.Seq, e.Payload, next)
		}
		next++
		return nil
	}))
	if next != n+1 {
		t.Fatalf("walked %d entries, want %d", next-1, n)
	}
	mustVerify(t, s, n)
	// An error from fn stops the walk and comes back as is.
	stop := errors.New("stop")
	calls := 0
	err := s.WalkLedger(ctx, func(e identity.LedgerEntry) error {
		calls++
		if e.Seq == 1500 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || calls != 1500 {
		t.Fatalf("WalkLedger = %v after %d calls, want stop after 1500", err, calls)
	}
	// The limit is capped.
	got, err := s.LedgerEntries(ctx, identity.LedgerFilter{Limit: 5000})
	noErr(t, "LedgerEntries(limit 5000)", err)
	if len(got) != identity.LedgerMaxLimit {
		t.Fatalf("limit 5000 gave %d entries, want %d", len(got), identity.LedgerMaxLimit)
	}
	got, err = s.LedgerEntries(ctx, identity.LedgerFilter{})
	noErr(t, "LedgerEntries(no limit)", err)
	if len(got) != identity.LedgerDefaultLimit {
		t.Fatalf("no limit gave %d entries, want %d", len(got), identity.LedgerDefaultLimit)
	}
}

func testAuditOnLedger(t *testing.T, s identity.Store) {
	ctx := t.Context()
	mustAppend(t, s, ledgerEntry(identity.LedgerConsent, identity.AuditLoginSuccess, "u-alice"))
	e := &identity.AuditEvent{
		OccurredAt: base, Type: identity.AuditLoginFailure, UserID: "u-alice", Actor: "system",
		IP: "192.0.2.1", UserAgent: "ua", Details: map[string]string{"reason": "password", "método": "contraseña <&>"},
	}
	noErr(t, "AppendAudit", s.AppendAudit(ctx, e))
	if e.ID != 2 {
		t.Fatalf("AppendAudit set ID %d, want the entry's seq 2", e.ID)
	}
	got, err := s.LedgerEntries(ctx, identity.LedgerFilter{Kind: identity.LedgerAudit})
	noErr(t, "LedgerEntries", err)
	if len(got) != 1 {
		t.Fatalf("audit entries: %v", seqs(got))
	}
	le := got[0]
	if le.Seq != 2 || le.Type != e.Type || le.Subject != "u-alice" || le.Actor != "system" || le.IP != e.IP ||
		le.UserAgent != "ua" || !le.OccurredAt.Equal(trunc(base)) || le.ClientID != "" || le.Locale != "" {
		t.Fatalf("ledger entry %+v", le)
	}
	if !strings.Contains(string(le.Payload), `"reason":"password"`) {
		t.Fatalf("payload %s", le.Payload)
	}
	// No details: an empty object, read back as nil.
	noErr(t, "AppendAudit", s.AppendAudit(ctx, &identity.AuditEvent{Type: identity.AuditLogout, UserID: "u-alice"}))
	// AuditEvents sees only kind audit, even for the same subject and type.
	events, err := s.AuditEvents(ctx, identity.AuditFilter{UserID: "u-alice"})
	noErr(t, "AuditEvents", err)
	if len(events) != 2 || events[0].ID != 3 || events[1].ID != 2 || events[0].Details != nil {
		t.Fatalf("AuditEvents = %+v", events)
	}
	checkFields(t, "AuditEvents[1]", events[1], *e)
	events, err = s.AuditEvents(ctx, identity.AuditFilter{Type: identity.AuditLoginSuccess})
	noErr(t, "AuditEvents(type)", err)
	if len(events) != 0 {
		t.Fatalf("AuditEvents returned a consent entry: %+v", events)
	}
	mustVerify(t, s, 3)
}
