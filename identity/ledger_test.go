package identity

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// memLedger is an in-memory LedgerStore whose rows the tests tamper with.
// WalkLedger returns the rows in slice order, like a table read in seq
// order after someone rewrote it.
type memLedger struct {
	rows    []LedgerEntry
	walkErr error
}

func (m *memLedger) AppendLedger(_ context.Context, e *LedgerEntry) error {
	if err := e.Normalize(time.Now()); err != nil {
		return err
	}
	e.Seq, e.PrevHash = 1, LedgerGenesis
	if n := len(m.rows); n > 0 {
		e.Seq, e.PrevHash = m.rows[n-1].Seq+1, m.rows[n-1].Hash
	}
	e.Hash = e.ComputeHash()
	m.rows = append(m.rows, *e)
	return nil
}

func (m *memLedger) LedgerEntries(_ context.Context, f LedgerFilter) ([]LedgerEntry, error) {
	return nil, errors.New("not used")
}

func (m *memLedger) WalkLedger(_ context.Context, fn func(LedgerEntry) error) error {
	for _, e := range m.rows {
		if err := fn(e); err != nil {
			return err
		}
	}
	return m.walkErr
}

var ledgerBase = time.Date(2026, time.March, 16, 9, 30, 0, 123456789, time.FixedZone("COT", -5*3600))

// newMemLedger appends n entries of assorted kinds.
func newMemLedger(t *testing.T, n int) *memLedger {
	t.Helper()
	m := &memLedger{}
	kinds := []string{LedgerAudit, LedgerConsent, LedgerRequest, LedgerAdmin}
	for i := range n {
		e := &LedgerEntry{
			OccurredAt: ledgerBase.Add(time.Duration(i) * time.Minute), Kind: kinds[i%len(kinds)],
			Type: "test.event", Subject: "u-alice", Actor: "", ClientID: "shop", IP: "192.0.2.7",
			UserAgent: "Mozilla/5.0", Locale: "es-CO", Payload: []byte(`{"n":` + string(rune('0'+i%10)) + `}`),
		}
		if err := m.AppendLedger(t.Context(), e); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	return m
}

func TestComputeHashGolden(t *testing.T) {
	// The encoding is a stored format: changing it breaks every existing
	// chain. This vector pins it (computed independently from the
	// documented encoding with Python's hashlib).
	e := LedgerEntry{
		Seq: 7, OccurredAt: time.Date(2026, 3, 16, 14, 30, 0, 123456000, time.UTC), Kind: LedgerConsent,
		Type: "consent.accepted", Subject: "u-1", Actor: "representative", ClientID: "shop", IP: "2001:db8::1",
		UserAgent: "Mozilla/5.0", Locale: "es-CO", Payload: []byte(`{"purposes":["marketing"],"texto":"autorización"}`),
		PrevHash: strings.Repeat("ab", 32),
	}
	const want = "554f0ff4ce98960ef9289fea2f2f4235ff432c1229833b32c89eb4d1d7a3336d"
	got := e.ComputeHash()
	if len(got) != 64 || strings.Trim(got, "0123456789abcdef") != "" {
		t.Fatalf("ComputeHash = %q, want 64 lower-case hex digits", got)
	}
	if got != want {
		t.Fatalf("ComputeHash = %s, want %s", got, want)
	}
	// The same instant in another zone hashes alike.
	e.OccurredAt = e.OccurredAt.In(time.FixedZone("COT", -5*3600))
	if e.ComputeHash() != want {
		t.Fatal("the hash depends on the time zone of OccurredAt")
	}
}

func TestComputeHashCoversEveryField(t *testing.T) {
	e := LedgerEntry{
		Seq: 3, OccurredAt: ledgerBase, Kind: LedgerAudit, Type: "login.success", Subject: "u-1", Actor: "system",
		ClientID: "shop", IP: "192.0.2.1", UserAgent: "ua", Locale: "en", Payload: []byte(`{}`), PrevHash: LedgerGenesis,
	}
	orig := e.ComputeHash()
	v := reflect.ValueOf(&e).Elem()
	for i := range v.NumField() {
		name := v.Type().Field(i).Name
		if name == "Hash" {
			continue
		}
		changed := e
		f := reflect.ValueOf(&changed).Elem().Field(i)
		switch x := f.Interface().(type) {
		case int64:
			f.SetInt(x + 1)
		case string:
			f.SetString(x + "x")
		case []byte:
			f.SetBytes([]byte(`{ }`))
		case time.Time:
			f.Set(reflect.ValueOf(x.Add(time.Microsecond)))
		default:
			t.Fatalf("field %s of type %T not covered by this test", name, x)
		}
		if changed.ComputeHash() == orig {
			t.Errorf("changing %s does not change the hash", name)
		}
	}
	// Field boundaries are unambiguous.
	a, b := e, e
	a.Subject, a.Actor = "ab", "c"
	b.Subject, b.Actor = "a", "bc"
	if a.ComputeHash() == b.ComputeHash() {
		t.Error(`("ab","c") and ("a","bc") hash alike`)
	}
	a, b = e, e
	a.Locale, a.Payload = "en{", []byte(`}`)
	b.Locale, b.Payload = "en", []byte(`{}`)
	if a.ComputeHash() == b.ComputeHash() {
		t.Error("locale and payload boundary is ambiguous")
	}
}

func TestLedgerNormalize(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 6789, time.FixedZone("X", 3600))
	e := &LedgerEntry{Kind: LedgerAudit, Type: "t", UserAgent: "bad \xff\xfe ua\x00!", Subject: "ñandú"}
	if err := e.Normalize(now); err != nil {
		t.Fatal(err)
	}
	if want := now.UTC().Truncate(time.Microsecond); !e.OccurredAt.Equal(want) || e.OccurredAt.Location() != time.UTC || e.OccurredAt.Nanosecond()%1000 != 0 {
		t.Errorf("OccurredAt = %v, want %v in UTC", e.OccurredAt, want)
	}
	if string(e.Payload) != "{}" {
		t.Errorf("empty payload became %q", e.Payload)
	}
	if e.UserAgent != "bad \uFFFD ua\uFFFD!" || e.Subject != "ñandú" {
		t.Errorf("text not cleaned: UserAgent %q, Subject %q", e.UserAgent, e.Subject)
	}
	given := ledgerBase
	e = &LedgerEntry{Kind: LedgerConsent, Type: "t", OccurredAt: given, Payload: []byte(" {\"b\": 1,  \"a\":[] }\n")}
	if err := e.Normalize(now); err != nil {
		t.Fatal(err)
	}
	if !e.OccurredAt.Equal(given.Truncate(time.Microsecond)) || string(e.Payload) != " {\"b\": 1,  \"a\":[] }\n" {
		t.Errorf("normalised %v %q: the given time and payload bytes must be kept", e.OccurredAt, e.Payload)
	}
	for name, bad := range map[string]LedgerEntry{
		"unknown kind":         {Kind: "gossip", Type: "t"},
		"no kind":              {Type: "t"},
		"no type":              {Kind: LedgerAudit},
		"payload not JSON":     {Kind: LedgerAudit, Type: "t", Payload: []byte(`{"a":`)},
		"payload array":        {Kind: LedgerAudit, Type: "t", Payload: []byte(`["a"]`)},
		"payload string":       {Kind: LedgerAudit, Type: "t", Payload: []byte(`"{}"`)},
		"payload invalid utf8": {Kind: LedgerAudit, Type: "t", Payload: []byte("{\"a\":\"\xff\"}")},
	} {
		if err := bad.Normalize(now); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestVerifyLedgerIntact(t *testing.T) {
	n, err := VerifyLedger(t.Context(), &memLedger{})
	if n != 0 || err != nil {
		t.Fatalf("empty ledger: %d, %v", n, err)
	}
	m := newMemLedger(t, 6)
	if m.rows[0].PrevHash != LedgerGenesis || m.rows[1].PrevHash != m.rows[0].Hash || m.rows[5].Seq != 6 {
		t.Fatalf("chain not linked: %+v", m.rows[:2])
	}
	n, err = VerifyLedger(t.Context(), m)
	if n != 6 || err != nil {
		t.Fatalf("VerifyLedger = %d, %v; want 6, nil", n, err)
	}
}

func TestVerifyLedgerDetectsTampering(t *testing.T) {
	for _, tc := range []struct {
		name    string
		tamper  func(rows []LedgerEntry) []LedgerEntry
		wantSeq int64
		reason  string // a part of the reason
		checked int64
	}{
		{"changed payload", func(r []LedgerEntry) []LedgerEntry {
			r[2].Payload = []byte(`{"n":9}`)
			return r
		}, 3, "does not match its contents", 2},
		{"changed timestamp", func(r []LedgerEntry) []LedgerEntry {
			r[2].OccurredAt = r[2].OccurredAt.Add(-time.Microsecond)
			return r
		}, 3, "does not match its contents", 2},
		{"changed subject", func(r []LedgerEntry) []LedgerEntry {
			r[4].Subject = "u-mallory"
			return r
		}, 5, "does not match its contents", 4},
		{"changed entry with its hash recomputed", func(r []LedgerEntry) []LedgerEntry {
			r[2].Type = "consent.denied"
			r[2].Hash = r[2].ComputeHash()
			return r
		}, 4, "does not match entry 3's hash", 3},
		{"forged hash", func(r []LedgerEntry) []LedgerEntry {
			r[3].Hash = strings.Repeat("f", 64)
			return r
		}, 4, "stored hash ffffffffffff", 3},
		{"deleted middle row", func(r []LedgerEntry) []LedgerEntry {
			return append(r[:2:2], r[3:]...)
		}, 4, "entry 3 is missing", 2},
		{"deleted rows", func(r []LedgerEntry) []LedgerEntry {
			return append(r[:1:1], r[4:]...)
		}, 5, "entries 2 to 4 are missing", 1},
		{"deleted first row", func(r []LedgerEntry) []LedgerEntry {
			return r[1:]
		}, 2, "entry 1 is missing", 0},
		{"reordered rows", func(r []LedgerEntry) []LedgerEntry {
			r[1], r[2] = r[2], r[1]
			return r
		}, 3, "", 1},
		{"reordered and renumbered rows", func(r []LedgerEntry) []LedgerEntry {
			r[1], r[2] = r[2], r[1]
			r[1].Seq, r[2].Seq = 2, 3
			return r
		}, 2, "does not match entry 1's hash", 1},
		{"duplicated row", func(r []LedgerEntry) []LedgerEntry {
			return append(r[:3:3], r[2:]...)
		}, 3, "out of order: comes after entry 3", 3},
		{"replaced genesis", func(r []LedgerEntry) []LedgerEntry {
			r[0].PrevHash = strings.Repeat("1", 64)
			r[0].Hash = r[0].ComputeHash()
			return r
		}, 1, "not the genesis value", 0},
		{"inserted row", func(r []LedgerEntry) []LedgerEntry {
			forged := r[2]
			forged.Seq, forged.PrevHash, forged.Type = 4, r[2].Hash, "consent.accepted"
			forged.Hash = forged.ComputeHash()
			out := append(r[:3:3], forged)
			for _, e := range r[3:] {
				e.Seq++
				out = append(out, e)
			}
			return out
		}, 5, "does not match entry 4's hash", 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMemLedger(t, 6)
			m.rows = tc.tamper(m.rows)
			n, err := VerifyLedger(t.Context(), m)
			var brk *LedgerBreak
			if !errors.As(err, &brk) {
				t.Fatalf("VerifyLedger = %d, %v; want a *LedgerBreak", n, err)
			}
			if brk.Seq != tc.wantSeq || !strings.Contains(brk.Reason, tc.reason) || n != tc.checked {
				t.Fatalf("VerifyLedger = %d, %v; want break at %d (%q) after %d", n, err, tc.wantSeq, tc.reason, tc.checked)
			}
			if want := "ledger broken at entry "; !strings.HasPrefix(err.Error(), want) {
				t.Fatalf("Error() = %q", err)
			}
		})
	}
}

func TestVerifyLedgerReturnsStoreErrors(t *testing.T) {
	m := newMemLedger(t, 2)
	m.walkErr = errors.New("connection reset")
	_, err := VerifyLedger(t.Context(), m)
	var brk *LedgerBreak
	if err == nil || errors.As(err, &brk) || !strings.Contains(err.Error(), "connection reset") {
		t.Fatalf("VerifyLedger = %v, want the store's error", err)
	}
}

func TestLedgerFilterLimit(t *testing.T) {
	for limit, want := range map[int]int{-1: 100, 0: 100, 1: 1, 1000: 1000, 1001: 1000} {
		if got := (LedgerFilter{Limit: limit}).EffectiveLimit(); got != want {
			t.Errorf("Limit %d: %d, want %d", limit, got, want)
		}
	}
}
