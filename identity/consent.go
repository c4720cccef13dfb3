package identity

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// Consent decisions are ledger entries of kind LedgerConsent; the current
// state of a user's authorizations is folded from them, so the proof and
// the state can never disagree.

// Consent entry types.
const (
	ConsentAccepted = "consent.accepted" // the titular (or representative) authorized
	ConsentDenied   = "consent.denied"   // the titular refused at the consent page
	ConsentRevoked  = "consent.revoked"  // the titular revoked purposes later
)

// Scope consent entry types: what a user let one client have.
const (
	ScopesGranted = "consent.scopes_granted"
	ScopesDenied  = "consent.scopes_denied"
	ScopesRevoked = "consent.scopes_revoked"
)

// ScopeRecord is the payload of a scope consent entry (the client is the
// entry's ClientID).
type ScopeRecord struct {
	Scopes   []string `json:"scopes"`
	Remember bool     `json:"remember"`
	// Flow is the Digest of the authorization request (flow id) the
	// decision was taken for: a decision answers that request alone.
	Flow string `json:"flow,omitempty"`
}

// ScopeConsent is a remembered scope consent.
type ScopeConsent struct {
	UserID    string
	ClientID  string
	Scopes    []string
	GrantedAt time.Time
}

// Covers reports whether the remembered consent includes every scope.
func (c *ScopeConsent) Covers(scopes []string) bool {
	for _, s := range scopes {
		if !slices.Contains(c.Scopes, s) {
			return false
		}
	}
	return true
}

// ScopeConsentStore keeps remembered scope consents.
type ScopeConsentStore interface {
	// PutScopeConsent stores or replaces the user's consent for the client.
	PutScopeConsent(ctx context.Context, c *ScopeConsent) error
	ScopeConsent(ctx context.Context, userID, clientID string) (*ScopeConsent, error)
	ScopeConsentsByUser(ctx context.Context, userID string) ([]ScopeConsent, error)
	// DeleteScopeConsent forgets it; ErrNotFound if there was none.
	DeleteScopeConsent(ctx context.Context, userID, clientID string) error
}

// Document types that only minors hold (DIAN codes 11 and 12): registro
// civil and tarjeta de identidad.
var minorDocuments = []string{"RC", "TI"}

// IsMinor decides from a birth date or a document type whether the titular
// is under 18 (Ley 1581 art. 7; Código de la Infancia art. 3). known is
// false when neither was given.
func IsMinor(birth time.Time, documentType string, now time.Time) (minor, known bool) {
	if slices.Contains(minorDocuments, documentType) {
		return true, true
	}
	if birth.IsZero() {
		return false, documentType != ""
	}
	adult := birth.AddDate(18, 0, 0)
	return now.Before(adult), true
}

// ConsentActorRepresentative marks an authorization given by a minor's
// legal representative (Decreto 1377 art. 12).
const ConsentActorRepresentative = "representative"

// TextRef names the exact version of a text that was shown.
type TextRef struct {
	Version string `json:"version"`
	Lang    string `json:"lang,omitempty"`
	SHA256  string `json:"sha256"`
}

// PurposeDecision is what was decided about one purpose.
type PurposeDecision struct {
	ID       string `json:"id"`
	Version  string `json:"version"`
	SHA256   string `json:"sha256"`
	Required bool   `json:"required"`
	Granted  bool   `json:"granted"`
}

// ConsentRecord is the payload of a consent entry: the fields of HABEAS_DATA
// H3 that the ledger entry itself does not carry (subject, time, channel,
// IP, user agent, locale and actor are the entry's own fields).
type ConsentRecord struct {
	Responsable Responsable       `json:"responsable"`
	Policy      *TextRef          `json:"policy,omitempty"`
	Notice      *TextRef          `json:"notice,omitempty"`
	Purposes    []PurposeDecision `json:"purposes"`
	// Page is where the decision was taken ("/consent", "/account/data").
	Page string `json:"page"`
	// Minor: the titular is under 18 (from the birth date or document
	// type given on the page, which are not kept).
	Minor bool `json:"minor,omitempty"`
	// Representative describes who authorized for a minor.
	Representative string `json:"representative,omitempty"`
}

// Payload is the record as a ledger payload.
func (c ConsentRecord) Payload() []byte {
	b, err := json.Marshal(c)
	if err != nil {
		panic(err) // plain strings and bools always marshal
	}
	return b
}

// ConsentState is a user's authorizations now.
type ConsentState struct {
	// Policy is the version of the treatment policy last accepted.
	Policy *TextRef
	// Purposes holds the latest decision per purpose id.
	Purposes map[string]PurposeDecision
	// DecidedAt is when each purpose was last decided.
	DecidedAt map[string]time.Time
}

// Granted reports whether purpose id is authorized now.
func (s ConsentState) Granted(id string) bool { return s.Purposes[id].Granted }

// FoldConsent computes the state from the user's consent entries, oldest
// first.
func FoldConsent(entries []LedgerEntry) (ConsentState, error) {
	st := ConsentState{Purposes: map[string]PurposeDecision{}, DecidedAt: map[string]time.Time{}}
	for _, e := range entries {
		if e.Kind != LedgerConsent {
			continue
		}
		var rec ConsentRecord
		if err := json.Unmarshal(e.Payload, &rec); err != nil {
			return st, fmt.Errorf("consent entry %d: %w", e.Seq, err)
		}
		switch e.Type {
		case ConsentAccepted:
			if rec.Policy != nil {
				st.Policy = rec.Policy
			}
			for _, d := range rec.Purposes {
				st.Purposes[d.ID] = d
				st.DecidedAt[d.ID] = e.OccurredAt
			}
		case ConsentRevoked:
			for _, d := range rec.Purposes {
				d.Granted = false
				st.Purposes[d.ID] = d
				st.DecidedAt[d.ID] = e.OccurredAt
			}
		}
	}
	return st, nil
}

// ConsentEntries reads all of a user's consent entries, oldest first.
func ConsentEntries(ctx context.Context, s LedgerStore, userID string) ([]LedgerEntry, error) {
	var out []LedgerEntry
	var after int64
	for {
		page, err := s.LedgerEntries(ctx, LedgerFilter{Subject: userID, Kind: LedgerConsent, AfterSeq: after, Limit: LedgerMaxLimit})
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if len(page) < LedgerMaxLimit {
			return out, nil
		}
		after = page[len(page)-1].Seq
	}
}

// ConsentNeeds is what the consent page must ask.
type ConsentNeeds struct {
	// Policy: the policy version in force was never accepted.
	Policy bool
	// Purposes lacking a decision for their current version (new or
	// changed purposes), in the set's order.
	Purposes []Purpose
}

// Any reports whether the consent page must be shown.
func (n ConsentNeeds) Any() bool { return n.Policy || len(n.Purposes) > 0 }

// Needs compares the state with the set in force: a new policy version, a
// new purpose, or a purpose whose version changed needs a new decision;
// nothing else does (Decreto 1377 arts. 5 and 13).
func (s *LegalSet) Needs(st ConsentState) ConsentNeeds {
	var n ConsentNeeds
	n.Policy = st.Policy == nil || st.Policy.Version != s.Policy.Version
	for _, p := range s.Purposes {
		d, ok := st.Purposes[p.ID]
		// A required purpose revoked later is asked again: without it the
		// service cannot be used.
		if !ok || d.Version != p.Version || (p.Required && !d.Granted) {
			n.Purposes = append(n.Purposes, p)
		}
	}
	return n
}

// AllowedScopes drops from scopes those whose purpose is not granted now.
func (s *LegalSet) AllowedScopes(st ConsentState, scopes []string) []string {
	var out []string
	for _, sc := range scopes {
		ok := true
		for _, p := range s.Purposes {
			if slices.Contains(p.Scopes, sc) && !st.Granted(p.ID) {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, sc)
		}
	}
	return out
}

// ScopesOf lists the scopes that depend on the purposes ids.
func (s *LegalSet) ScopesOf(ids []string) []string {
	var out []string
	for _, p := range s.Purposes {
		if slices.Contains(ids, p.ID) {
			for _, sc := range p.Scopes {
				if !slices.Contains(out, sc) {
					out = append(out, sc)
				}
			}
		}
	}
	return out
}
