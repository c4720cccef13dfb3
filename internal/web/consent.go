package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/legal"
	"github.com/portero-id/portero/internal/localpath"
	"github.com/portero-id/portero/internal/render"
)

// The consent page (Ley 1581 de 2012, Decreto 1377 de 2013): the dispatcher
// sends a signed-in user here when the policy in force was never accepted,
// or a purpose is new or changed. Every element the duty to inform requires
// is on the page; no box is ticked in advance; the decision, accept or
// deny, is a ledger entry naming the exact texts shown.

type consentPurpose struct {
	ID          string
	Title       string
	Description string
	Required    bool
	Sensitive   bool
}

type consentProcessor struct {
	Name, Country, Purpose string
}

// documentTypes are the Colombian identity documents the consent page
// offers (DIAN codes: RC 11, TI 12, CC 13, CE 22, PA 41, PEP 47, PPT 48).
var documentTypes = []string{"CC", "TI", "RC", "CE", "PA", "PEP", "PPT"}

type consentPage struct {
	Flow          string
	Client        string // the application asking, "" on Portero's own pages
	Responsable   identity.Responsable
	PolicyVersion string
	NoticeVersion string
	Notice        template.HTML
	// PolicyChanged: the user accepted an older policy before.
	PolicyChanged bool
	Purposes      []consentPurpose
	Processors    []consentProcessor
	Problem       string
	// MinorsRefused: minors may not sign up at all (legal.minors).
	MinorsRefused bool
	DocumentTypes []string
}

// consentState folds the user's consent entries.
func consentState(ctx context.Context, st identity.LedgerStore, userID string) (identity.ConsentState, error) {
	entries, err := identity.ConsentEntries(ctx, st, userID)
	if err != nil {
		return identity.ConsentState{}, err
	}
	return identity.FoldConsent(entries)
}

// clientOf names the client of the parked authorization request, for the
// ledger's channel and the page.
func (s *consentPages) clientOf(ctx context.Context, flow string) (id, name string) {
	if flow == "" {
		return "", ""
	}
	p, err := s.Store.PendingAuthorizationByID(ctx, flow)
	if err != nil {
		return "", ""
	}
	id = p.ClientID
	if c, err := s.Store.ClientByID(ctx, id); err == nil {
		return id, c.Name
	}
	return id, id
}

func (s *consentPages) consentData(r *http.Request, flow string, needs identity.ConsentNeeds, st identity.ConsentState) (*consentPage, error) {
	lang := s.Pages.Lang(r)
	text := func(m map[string]string) string {
		if v, ok := m[lang]; ok {
			return v
		}
		return m[s.Legal.Languages[0]]
	}
	notice, err := legal.HTML(s.legalText(s.Legal.Notice, lang))
	if err != nil {
		return nil, err
	}
	_, client := s.clientOf(r.Context(), flow)
	page := &consentPage{
		Flow: flow, Client: client, Responsable: s.Legal.Responsable,
		PolicyVersion: s.Legal.Policy.Version, NoticeVersion: s.Legal.Notice.Version, Notice: notice,
		PolicyChanged: needs.Policy && st.Policy != nil,
		MinorsRefused: s.Legal.Minors == identity.MinorsRefuse,
		DocumentTypes: documentTypes,
	}
	for _, p := range needs.Purposes {
		page.Purposes = append(page.Purposes, consentPurpose{ID: p.ID, Title: text(p.Title), Description: text(p.Description),
			Required: p.Required, Sensitive: p.Sensitive})
	}
	for _, p := range s.Legal.Processors {
		page.Processors = append(page.Processors, consentProcessor{Name: p.Name, Country: p.Country, Purpose: text(p.Purpose)})
	}
	return page, nil
}

// legalText is the document in lang, or in the default language.
// legalView shows the legal texts in force, in the request's language.
type legalView struct {
	Legal *identity.LegalSet
	pages *render.Renderer
}

func (s *legalView) legalText(d identity.LegalDocument, lang string) identity.LegalText {
	if t, ok := d.Texts[lang]; ok {
		return t
	}
	return d.Texts[s.Legal.Languages[0]]
}

// legalLang is the language the texts are shown in for this request.
func (s *legalView) legalLang(r *http.Request) string {
	lang := s.pages.Lang(r)
	if slices.Contains(s.Legal.Languages, lang) {
		return lang
	}
	return s.Legal.Languages[0]
}

func (s *consentPages) showConsent(w http.ResponseWriter, r *http.Request) error {
	_, u, ok := s.requireUser(w, r)
	if !ok {
		return nil
	}
	flow := flowParam(r)
	st, err := consentState(r.Context(), s.Store, u.ID)
	if err != nil {
		return fmt.Errorf("consent state: %w", err)
	}
	needs := s.Legal.Needs(st)
	if !needs.Any() {
		localpath.Redirect(w, r, continueURL(flow))
		return nil
	}
	page, err := s.consentData(r, flow, needs, st)
	if err != nil {
		return fmt.Errorf("consent page: %w", err)
	}
	s.Pages.Render(w, r, http.StatusOK, "consent", page)
	return nil
}

func (s *consentPages) submitConsent(w http.ResponseWriter, r *http.Request) error {
	_, u, ok := s.accountPost(w, r)
	if !ok {
		return nil
	}
	ctx := r.Context()
	flow := flowParam(r)
	st, err := consentState(ctx, s.Store, u.ID)
	if err != nil {
		return fmt.Errorf("consent state: %w", err)
	}
	needs := s.Legal.Needs(st)
	if !needs.Any() {
		localpath.Redirect(w, r, continueURL(flow))
		return nil
	}
	decision := r.PostForm.Get("decision")
	ticked := r.PostForm["purpose"]
	if decision != "accept" && decision != "deny" {
		s.badRequest(w, r)
		return nil
	}
	actor, representative, problem := "", "", ""
	if decision == "accept" {
		actor, representative, problem = s.whoAuthorizes(r)
		if problem == "" && !requiredTicked(needs, ticked) {
			// Silence is not consent: nothing is recorded, the page asks
			// again, with nothing ticked (Ley 1581 art. 9).
			problem = "consent.required_missing"
		}
	}
	if problem != "" {
		page, err := s.consentData(r, flow, needs, st)
		if err != nil {
			return fmt.Errorf("consent page: %w", err)
		}
		page.Problem = problem
		s.Pages.Render(w, r, http.StatusBadRequest, "consent", page)
		return nil
	}
	entry := s.consentEntry(r, u, flow, needs, decision, ticked, actor, representative)
	// The user's decision must not be lost to a cancelled request.
	if err := s.Store.AppendLedger(context.WithoutCancel(ctx), entry); err != nil {
		return fmt.Errorf("record consent: %w", err)
	}
	// The dispatcher sees the decision in the ledger: an acceptance lets
	// the flow go on, a denial ends it with access_denied.
	localpath.Redirect(w, r, continueURL(flow))
	return nil
}

// whoAuthorizes applies the rules on minors (Ley 1581 art. 7, Decreto
// 1377 art. 12) to an acceptance: a minor does not authorize alone; the
// legal representative does, and is the actor recorded, or minors are
// refused by configuration. problem is the page's message when the form
// does not allow recording.
func (s *consentPages) whoAuthorizes(r *http.Request) (actor, representative, problem string) {
	var birth time.Time
	if v := r.PostForm.Get("birth_date"); v != "" {
		if t, err := time.Parse(time.DateOnly, v); err == nil && t.Before(s.Now()) && t.Year() > 1900 {
			birth = t
		}
	}
	doc := r.PostForm.Get("document_type")
	if !slices.Contains(documentTypes, doc) {
		doc = ""
	}
	minor, known := identity.IsMinor(birth, doc, s.Now())
	switch {
	case !known:
		return "", "", "consent.age_missing"
	case minor && s.Legal.Minors == identity.MinorsRefuse:
		return "", "", "consent.minor_refused"
	case !minor:
		return "", "", ""
	}
	name := strings.TrimSpace(r.PostForm.Get("representative_name"))
	repDoc := strings.TrimSpace(r.PostForm.Get("representative_document"))
	relation := strings.TrimSpace(r.PostForm.Get("representative_relation"))
	if name == "" || repDoc == "" || relation == "" || r.PostForm.Get("representative_confirm") != "on" ||
		len(name) > 200 || len(repDoc) > 40 || len(relation) > 100 {
		problem = "consent.representative_missing"
	}
	return identity.ConsentActorRepresentative, name + " (" + relation + "), " + repDoc, problem
}

// requiredTicked reports whether every required purpose was ticked.
func requiredTicked(needs identity.ConsentNeeds, ticked []string) bool {
	for _, p := range needs.Purposes {
		if p.Required && !slices.Contains(ticked, p.ID) {
			return false
		}
	}
	return true
}

// consentEntry is the ledger entry proving the decision: the texts shown
// (version, language and digest), each purpose decided, and who decided.
func (s *consentPages) consentEntry(r *http.Request, u *identity.User, flow string, needs identity.ConsentNeeds,
	decision string, ticked []string, actor, representative string) *identity.LedgerEntry {
	lang := s.legalLang(r)
	rec := identity.ConsentRecord{
		Responsable:    s.Legal.Responsable,
		Policy:         &identity.TextRef{Version: s.Legal.Policy.Version, Lang: lang, SHA256: s.legalText(s.Legal.Policy, lang).SHA256},
		Notice:         &identity.TextRef{Version: s.Legal.Notice.Version, Lang: lang, SHA256: s.legalText(s.Legal.Notice, lang).SHA256},
		Page:           "/consent",
		Representative: representative,
		Minor:          representative != "",
	}
	for _, p := range needs.Purposes {
		rec.Purposes = append(rec.Purposes, identity.PurposeDecision{ID: p.ID, Version: p.Version, SHA256: p.SHA256(),
			Required: p.Required, Granted: decision == "accept" && slices.Contains(ticked, p.ID)})
	}
	typ := identity.ConsentAccepted
	if decision == "deny" {
		typ = identity.ConsentDenied
	}
	clientID, _ := s.clientOf(r.Context(), flow)
	return &identity.LedgerEntry{
		Kind: identity.LedgerConsent, Type: typ, Subject: u.ID, Actor: actor, ClientID: clientID,
		IP: clientIP(r), UserAgent: truncate(r.UserAgent(), 256), Locale: lang, Payload: rec.Payload(),
	}
}

// showLegal serves the policy or the notice: the version in force, or a
// published one by version (receipts link to the exact text).
func (s *consentPages) showLegal(w http.ResponseWriter, r *http.Request) error {
	kind := mux.Vars(r)["kind"]
	doc := s.Legal.Policy
	if kind == identity.LegalNotice {
		doc = s.Legal.Notice
	}
	lang := s.legalLang(r)
	if l := r.URL.Query().Get("lang"); slices.Contains(s.Legal.Languages, l) {
		lang = l
	}
	text := s.legalText(doc, lang)
	version := doc.Version
	if v := mux.Vars(r)["version"]; v != "" && v != doc.Version {
		stored, err := s.Store.LegalTextByVersion(r.Context(), kind, "", v, lang)
		if errors.Is(err, identity.ErrNotFound) {
			s.Pages.Error(w, r, http.StatusNotFound, "not_found", "legal.not_found")
			return nil
		}
		if err != nil {
			return fmt.Errorf("legal text: %w", err)
		}
		text, version = identity.LegalText{Format: stored.Format, Body: stored.Body, SHA256: stored.SHA256}, v
	}
	body, err := legal.HTML(text)
	if err != nil {
		return fmt.Errorf("render legal text: %w", err)
	}
	s.Pages.Render(w, r, http.StatusOK, "legal", struct {
		Kind, Version, Lang, SHA256 string
		Body                        template.HTML
	}{kind, version, lang, text.SHA256, body})
	return nil
}

// The scope consent page: which application asks for which of the user's
// data. First-party clients never come here.

type scopeItem struct{ Scope, Label string }

type scopePage struct {
	Flow   string
	Client string
	Scopes []scopeItem
}

// requestedScopes returns the parked request's client and the scopes it
// asks for that the client may have.
func (s *consentPages) requestedScopes(ctx context.Context, flow string) (*identity.Client, []string, error) {
	p, err := s.Store.PendingAuthorizationByID(ctx, flow)
	if err != nil {
		return nil, nil, err
	}
	c, err := s.Store.ClientByID(ctx, p.ClientID)
	if err != nil {
		return nil, nil, err
	}
	// The client's scopes may have shrunk since the request was parked.
	var scopes []string
	for _, sc := range p.Scopes {
		if slices.Contains(c.Scopes, sc) && !slices.Contains(scopes, sc) {
			scopes = append(scopes, sc)
		}
	}
	return c, scopes, nil
}

func (s *consentPages) showScopeConsent(w http.ResponseWriter, r *http.Request) error {
	_, _, ok := s.requireUser(w, r)
	if !ok {
		return nil
	}
	flow := flowParam(r)
	c, scopes, err := s.requestedScopes(r.Context(), flow)
	if errors.Is(err, identity.ErrNotFound) {
		s.Pages.Error(w, r, http.StatusBadRequest, "invalid_request", "authorize.error.flow_expired")
		return nil
	}
	if err != nil {
		return fmt.Errorf("scope consent: %w", err)
	}
	lang := s.Pages.Lang(r)
	page := scopePage{Flow: flow, Client: c.Name}
	for _, sc := range scopes {
		label := sc
		if key := "scope." + sc; s.Pages.Has(key) {
			label = s.Pages.T(lang, key)
		}
		page.Scopes = append(page.Scopes, scopeItem{Scope: sc, Label: label})
	}
	s.Pages.Render(w, r, http.StatusOK, "scopes", page)
	return nil
}

func (s *consentPages) submitScopeConsent(w http.ResponseWriter, r *http.Request) error {
	_, u, ok := s.accountPost(w, r)
	if !ok {
		return nil
	}
	ctx := r.Context()
	flow := flowParam(r)
	c, scopes, err := s.requestedScopes(ctx, flow)
	if errors.Is(err, identity.ErrNotFound) {
		s.Pages.Error(w, r, http.StatusBadRequest, "invalid_request", "authorize.error.flow_expired")
		return nil
	}
	if err != nil {
		return fmt.Errorf("scope consent: %w", err)
	}
	decision := r.PostForm.Get("decision")
	if decision != "allow" && decision != "deny" {
		s.badRequest(w, r)
		return nil
	}
	remember := decision == "allow" && r.PostForm.Get("remember") == "on"
	typ := identity.ScopesGranted
	if decision == "deny" {
		typ = identity.ScopesDenied
	}
	payload, _ := json.Marshal(identity.ScopeRecord{Scopes: scopes, Remember: remember, Flow: identity.Digest(flow)})
	// The remembered consent and its proof land together or not at all;
	// the ledger entry comes last, as the chain asks.
	err = s.Store.InTx(context.WithoutCancel(ctx), func(ctx context.Context) error {
		if remember {
			if err := s.Store.PutScopeConsent(ctx, &identity.ScopeConsent{UserID: u.ID, ClientID: c.ID, Scopes: scopes, GrantedAt: s.Now()}); err != nil {
				return err
			}
		}
		return s.Store.AppendLedger(ctx, &identity.LedgerEntry{Kind: identity.LedgerConsent, Type: typ, Subject: u.ID, ClientID: c.ID,
			IP: clientIP(r), UserAgent: truncate(r.UserAgent(), 256), Locale: s.legalLang(r), Payload: payload})
	})
	if err != nil {
		return fmt.Errorf("record scope consent: %w", err)
	}
	localpath.Redirect(w, r, continueURL(flow))
	return nil
}
