package identity

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"time"
)

// The legal texts of Ley 1581 de 2012 and Decreto 1377 de 2013 (habeas
// data) are configuration: who the responsable is, the treatment policy,
// the privacy notice and the purposes (finalidades) a user authorizes. Each
// published version is kept with its exact text and SHA-256, so that proof
// of an authorization always shows what the person was told.

// Kinds of published legal text.
const (
	LegalPolicy  = "policy"  // política de tratamiento de datos
	LegalNotice  = "notice"  // aviso de privacidad
	LegalPurpose = "purpose" // one finalidad (its titles and descriptions, as JSON)
)

// ErrLegalTextChanged means a text was changed without a new version: the
// old version's text must stay what it was, because authorizations point
// to it.
var ErrLegalTextChanged = errors.New("legal text changed without a new version")

// Responsable is the company responsible for the processing (responsable
// del tratamiento).
type Responsable struct {
	Name    string `json:"name"`
	NIT     string `json:"nit"`
	Address string `json:"address"`
	Email   string `json:"email"`
	Phone   string `json:"phone"`
}

// LegalDocument is one version of the policy or the notice, in every
// language.
type LegalDocument struct {
	Kind    string
	Version string
	// Texts by language.
	Texts map[string]LegalText
}

// LegalText is a document in one language, exactly as shown.
type LegalText struct {
	// Format is "markdown" or "html".
	Format string
	Body   string
	SHA256 string
}

// NewLegalText fills in the digest of body.
func NewLegalText(format, body string) LegalText {
	return LegalText{Format: format, Body: body, SHA256: Digest(body)}
}

// Digest is the hex SHA-256 of s.
func Digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// Purpose is one finalidad the titular authorizes or not.
type Purpose struct {
	ID      string `json:"id"`
	Version string `json:"version"`
	// Required purposes are needed to use the service at all; the others
	// are the titular's free choice, and nothing depends on them.
	Required bool `json:"required"`
	// Sensitive purposes concern sensitive data or minors' data: the page
	// says that answering is optional (Ley 1581 art. 6, Decreto 1377 art. 6).
	Sensitive   bool              `json:"sensitive,omitempty"`
	Title       map[string]string `json:"title"`
	Description map[string]string `json:"description"`
	// Scopes are the OAuth scopes that need this purpose: without it they
	// are not granted, and revoking it revokes tokens that carry them.
	Scopes []string `json:"scopes,omitempty"`
}

// Canonical is the purpose as published and hashed: JSON with sorted map
// keys (encoding/json sorts them).
func (p Purpose) Canonical() string {
	b, err := json.Marshal(p)
	if err != nil {
		panic(err) // strings, bools and maps of strings always marshal
	}
	return string(b)
}

// SHA256 is the digest of the purpose's canonical form.
func (p Purpose) SHA256() string { return Digest(p.Canonical()) }

// Processor is an encargado del tratamiento (Ley 1581 art. 26, Decreto 1377
// arts. 24-25): data is transferred or transmitted to it.
type Processor struct {
	Name    string            `json:"name"`
	Country string            `json:"country"`
	Purpose map[string]string `json:"purpose"`
}

// Minors policies: a minor's authorization is given by a legal
// representative, or sign-up is refused.
const (
	MinorsRepresentative = "representative"
	MinorsRefuse         = "refuse"
)

// LegalSet is the legal configuration in force.
type LegalSet struct {
	Responsable Responsable
	Policy      LegalDocument
	Notice      LegalDocument
	Purposes    []Purpose
	Processors  []Processor
	// Languages the texts exist in, the default first.
	Languages []string
	// Minors is MinorsRepresentative or MinorsRefuse.
	Minors string
}

// Purpose returns the purpose with id.
func (s *LegalSet) Purpose(id string) (Purpose, bool) {
	i := slices.IndexFunc(s.Purposes, func(p Purpose) bool { return p.ID == id })
	if i < 0 {
		return Purpose{}, false
	}
	return s.Purposes[i], true
}

// PublishedText is one stored version of a legal text.
type PublishedText struct {
	Kind string
	// Ref names the purpose for LegalPurpose, "" for the policy and notice.
	Ref     string
	Version string
	// Lang is the language; "" for a purpose (all languages in one JSON).
	Lang        string
	Format      string
	Body        string
	SHA256      string
	PublishedAt time.Time
}

// Published lists every text of the set, as stored.
func (s *LegalSet) Published(at time.Time) []PublishedText {
	var out []PublishedText
	for _, d := range []LegalDocument{s.Policy, s.Notice} {
		for _, lang := range s.Languages {
			t := d.Texts[lang]
			out = append(out, PublishedText{Kind: d.Kind, Version: d.Version, Lang: lang, Format: t.Format,
				Body: t.Body, SHA256: t.SHA256, PublishedAt: at})
		}
	}
	for _, p := range s.Purposes {
		out = append(out, PublishedText{Kind: LegalPurpose, Ref: p.ID, Version: p.Version, Format: "json",
			Body: p.Canonical(), SHA256: p.SHA256(), PublishedAt: at})
	}
	return out
}

// LegalStore keeps every published version of the legal texts.
type LegalStore interface {
	// PublishLegalTexts stores the texts not stored yet. A text stored
	// before under the same kind, ref, version and language but with
	// another digest is ErrLegalTextChanged (nothing is stored then).
	PublishLegalTexts(ctx context.Context, texts []PublishedText) error
	// LegalTextByVersion returns one stored text, or ErrNotFound.
	LegalTextByVersion(ctx context.Context, kind, ref, version, lang string) (*PublishedText, error)
}
