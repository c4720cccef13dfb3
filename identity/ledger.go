package identity

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The ledger is one append-only, hash-chained log per database. It holds the
// security audit trail, the titulars' consent decisions (proof of
// authorization, Ley 1581 art. 9 / Decreto 1377 art. 8), data-subject
// requests and admin actions (accountability, Decreto 1377 arts. 26–27).
//
// Every entry carries the SHA-256 of the entry before it (PrevHash) and its
// own hash over PrevHash and all its fields (Hash), so that editing,
// inserting, reordering or deleting a past entry breaks the chain at that
// point and VerifyLedger names it. Seq numbers are consecutive from 1: a gap
// is a deleted entry. The database refuses UPDATE and DELETE on the table;
// the chain catches whoever gets around that (a DBA, a restored backup).
// Removing entries from the end of the chain is only detectable against a
// copy of an earlier head (its Seq and Hash) kept elsewhere.

// Ledger kinds.
const (
	LedgerAudit   = "audit"   // security events of the sign-in surface (AuditEvent)
	LedgerConsent = "consent" // a titular's authorization decisions
	LedgerRequest = "request" // data-subject requests (consultas, reclamos) and their steps
	LedgerAdmin   = "admin"   // actions of administrators
)

// LedgerGenesis is the PrevHash of the first entry: 64 zeros, so that every
// entry has a PrevHash of the same form.
const LedgerGenesis = "0000000000000000000000000000000000000000000000000000000000000000"

// Ledger filter limits.
const (
	LedgerDefaultLimit = 100
	LedgerMaxLimit     = 1000
)

// ledgerHashDomain starts every hashed message; a new encoding would get a
// new domain, and VerifyLedger would need to know both.
const ledgerHashDomain = "portero-ledger-v1"

// ledgerTimeLayout is how OccurredAt is hashed: RFC 3339 in UTC with exactly
// six fractional digits.
const ledgerTimeLayout = "2006-01-02T15:04:05.000000Z07:00"

// LedgerEntry is one entry of the ledger.
type LedgerEntry struct {
	Seq        int64     // position in the chain, from 1; set by AppendLedger
	OccurredAt time.Time // UTC, truncated to microseconds by AppendLedger before hashing
	Kind       string    // LedgerAudit, LedgerConsent, LedgerRequest or LedgerAdmin
	Type       string    // e.g. "login.success", "consent.accepted"
	Subject    string    // the titular's user id ("" when none)
	// Actor is who acted: "" is the titular themself; else e.g.
	// "admin:<id>", "representative", "client:<id>", "system".
	Actor string
	// ClientID is the channel: the OAuth client the flow came through, ""
	// for Portero's own pages.
	ClientID  string
	IP        string
	UserAgent string
	Locale    string
	// Payload is a JSON object (kind-specific), stored and hashed as the
	// bytes given; "{}" when empty.
	Payload  []byte
	PrevHash string // hex SHA-256 of the previous entry, LedgerGenesis for the first; set by AppendLedger
	Hash     string // hex SHA-256 over PrevHash and every field above; set by AppendLedger
}

// ComputeHash returns the entry's hash from its fields and PrevHash: the
// hex SHA-256 of a domain tag followed by every field in a fixed order (Seq
// in decimal, OccurredAt as RFC 3339 in UTC with microseconds, PrevHash,
// Kind, Type, Subject, Actor, ClientID, IP, UserAgent, Locale, Payload),
// each preceded by its length as 8 bytes big-endian, so that no two
// different entries encode alike.
func (e *LedgerEntry) ComputeHash() string {
	h := sha256.New()
	var n [8]byte
	field := func(s string) {
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	field(ledgerHashDomain)
	field(strconv.FormatInt(e.Seq, 10))
	field(e.OccurredAt.UTC().Format(ledgerTimeLayout))
	field(e.PrevHash)
	field(e.Kind)
	field(e.Type)
	field(e.Subject)
	field(e.Actor)
	field(e.ClientID)
	field(e.IP)
	field(e.UserAgent)
	field(e.Locale)
	binary.BigEndian.PutUint64(n[:], uint64(len(e.Payload)))
	h.Write(n[:])
	h.Write(e.Payload)
	return hex.EncodeToString(h.Sum(nil))
}

// ValidLedgerKind reports whether kind is one of the ledger kinds.
func ValidLedgerKind(kind string) bool {
	switch kind {
	case LedgerAudit, LedgerConsent, LedgerRequest, LedgerAdmin:
		return true
	}
	return false
}

// Normalize prepares e for appending; every LedgerStore calls it before
// hashing. It checks Kind, Type and Payload (a JSON object; empty becomes
// "{}"), sets a zero OccurredAt to now, converts OccurredAt to UTC truncated
// to microseconds (what both databases keep), and makes the text fields
// valid UTF-8 without NUL characters (PostgreSQL's TEXT holds neither;
// invalid bytes become U+FFFD), so that what is hashed is what is stored.
func (e *LedgerEntry) Normalize(now time.Time) error {
	if !ValidLedgerKind(e.Kind) {
		return fmt.Errorf("ledger: unknown kind %q", e.Kind)
	}
	if e.Type == "" {
		return errors.New("ledger: empty type")
	}
	if e.OccurredAt.IsZero() {
		e.OccurredAt = now
	}
	e.OccurredAt = e.OccurredAt.UTC().Truncate(time.Microsecond)
	for _, p := range []*string{&e.Kind, &e.Type, &e.Subject, &e.Actor, &e.ClientID, &e.IP, &e.UserAgent, &e.Locale} {
		*p = cleanText(*p)
	}
	if len(e.Payload) == 0 {
		e.Payload = []byte("{}")
	}
	// json.Valid lets invalid UTF-8 through inside strings.
	if !utf8.Valid(e.Payload) || !json.Valid(e.Payload) {
		return errors.New("ledger: payload is not valid JSON text")
	}
	if p := bytes.TrimLeft(e.Payload, " \t\r\n"); p[0] != '{' {
		return errors.New("ledger: payload is not a JSON object")
	}
	return nil
}

// cleanText returns s as valid UTF-8 without NUL characters.
func cleanText(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// LedgerFilter selects ledger entries; zero fields match everything.
type LedgerFilter struct {
	Subject  string
	Kind     string
	Actor    string
	ClientID string
	Types    []string // any of these
	Since    time.Time
	Until    time.Time // Since <= OccurredAt < Until; zero is unbounded
	AfterSeq int64     // Seq > AfterSeq (paging in seq order)
	// BeforeSeq, when positive, keeps Seq < BeforeSeq (paging newest first).
	BeforeSeq int64
	Limit     int  // LedgerDefaultLimit when not positive, at most LedgerMaxLimit
	Newest    bool // order by Seq descending (else ascending)
}

// EffectiveLimit is f.Limit within bounds.
func (f LedgerFilter) EffectiveLimit() int {
	switch {
	case f.Limit <= 0:
		return LedgerDefaultLimit
	case f.Limit > LedgerMaxLimit:
		return LedgerMaxLimit
	}
	return f.Limit
}

// LedgerStore appends to and reads the ledger. Entries are never updated or
// deleted.
type LedgerStore interface {
	// AppendLedger normalises e (Normalize), sets Seq, PrevHash and Hash
	// and appends it atomically: concurrent appends from several goroutines
	// or replicas still form one unbroken chain. Inside a transaction (ctx
	// from InTx or BeginTx) it joins it; the chain then stays locked for
	// other appenders until that transaction ends, so append as the last
	// step of a transaction.
	AppendLedger(ctx context.Context, e *LedgerEntry) error
	// LedgerEntries returns matching entries in seq order (descending with
	// Newest).
	LedgerEntries(ctx context.Context, f LedgerFilter) ([]LedgerEntry, error)
	// WalkLedger calls fn for every entry in seq order, reading in batches
	// (not all in memory). An error from fn stops the walk and is returned.
	WalkLedger(ctx context.Context, fn func(LedgerEntry) error) error
}

// LedgerBreak is where VerifyLedger found the chain broken.
type LedgerBreak struct {
	Seq    int64 // the first entry that does not verify
	Reason string
}

func (b *LedgerBreak) Error() string {
	return fmt.Sprintf("ledger broken at entry %d: %s", b.Seq, b.Reason)
}

// VerifyLedger walks the chain and returns how many entries it checked and
// nil, or a *LedgerBreak naming the first entry whose Seq is not the
// previous one's plus one (an entry was deleted or moved), whose PrevHash is
// not the previous entry's Hash, or whose Hash does not match its fields.
// Other errors are the store's.
func VerifyLedger(ctx context.Context, s LedgerStore) (checked int64, err error) {
	head, err := VerifyLedgerAgainst(ctx, s, LedgerHead{})
	return head.Checked, err
}

// LedgerHead is the last entry of a verified chain. A chain cut short (its
// newest entries deleted, or the database restored from an older backup)
// still verifies on its own; a head copied elsewhere earlier (audit verify
// prints it) proves that nothing up to it was lost.
type LedgerHead struct {
	Seq     int64  `json:"seq"`
	Hash    string `json:"hash"`
	Checked int64  `json:"checked"`
}

// String is the form audit verify prints and --head reads: "SEQ:HASH".
func (h LedgerHead) String() string { return fmt.Sprintf("%d:%s", h.Seq, h.Hash) }

// ParseLedgerHead reads "SEQ:HASH".
func ParseLedgerHead(s string) (LedgerHead, error) {
	seq, hash, ok := strings.Cut(strings.TrimSpace(s), ":")
	n, err := strconv.ParseInt(seq, 10, 64)
	if !ok || err != nil || n < 1 || len(hash) != len(LedgerGenesis) {
		return LedgerHead{}, fmt.Errorf("ledger head %q: want SEQ:HASH as audit verify prints it", s)
	}
	return LedgerHead{Seq: n, Hash: strings.ToLower(hash)}, nil
}

// VerifyLedgerAgainst verifies the chain as VerifyLedger does and returns
// its head; with a non-zero anchor (a head recorded earlier) it also
// fails, with a *LedgerBreak, unless the chain still holds that entry with
// that hash.
func VerifyLedgerAgainst(ctx context.Context, s LedgerStore, anchor LedgerHead) (head LedgerHead, err error) {
	prevSeq, prevHash := int64(0), LedgerGenesis
	var checked int64
	err = s.WalkLedger(ctx, func(e LedgerEntry) error {
		switch {
		case e.Seq != prevSeq+1:
			reason := fmt.Sprintf("out of order: comes after entry %d", prevSeq)
			if e.Seq > prevSeq+1 {
				reason = fmt.Sprintf("entries %d to %d are missing (deleted)", prevSeq+1, e.Seq-1)
				if e.Seq == prevSeq+2 {
					reason = fmt.Sprintf("entry %d is missing (deleted)", prevSeq+1)
				}
			}
			return &LedgerBreak{Seq: e.Seq, Reason: reason}
		case e.PrevHash != prevHash && prevSeq == 0:
			return &LedgerBreak{Seq: e.Seq, Reason: fmt.Sprintf(
				"previous hash %s of the first entry is not the genesis value", short(e.PrevHash))}
		case e.PrevHash != prevHash:
			return &LedgerBreak{Seq: e.Seq, Reason: fmt.Sprintf(
				"previous hash %s does not match entry %d's hash %s (one of the two was altered)",
				short(e.PrevHash), prevSeq, short(prevHash))}
		}
		if h := e.ComputeHash(); e.Hash != h {
			return &LedgerBreak{Seq: e.Seq, Reason: fmt.Sprintf(
				"stored hash %s does not match its contents (%s): the entry was changed", short(e.Hash), short(h))}
		}
		if e.Seq == anchor.Seq && e.Hash != anchor.Hash {
			return &LedgerBreak{Seq: e.Seq, Reason: fmt.Sprintf(
				"hash %s differs from the recorded head's %s: the chain was rewritten from here", short(e.Hash), short(anchor.Hash))}
		}
		checked++
		prevSeq, prevHash = e.Seq, e.Hash
		return nil
	})
	head = LedgerHead{Seq: prevSeq, Hash: prevHash, Checked: checked}
	if err == nil && anchor.Seq > prevSeq {
		err = &LedgerBreak{Seq: prevSeq + 1, Reason: fmt.Sprintf(
			"entries %d to %d (the recorded head) are missing: the chain was cut short, or restored from an older backup",
			prevSeq+1, anchor.Seq)}
	}
	return head, err
}

// short abbreviates a hash for messages.
func short(h string) string {
	if h == "" {
		return `""`
	}
	if len(h) > 12 {
		return h[:12] + "…"
	}
	return h
}
