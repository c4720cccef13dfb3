package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/identity/calendar"
	"github.com/portero-id/portero/internal/legal"
)

// "Mis datos y autorizaciones": the titular sees what they authorized,
// with the exact texts, downloads proof of it (Ley 1581 art. 8b; Decreto
// 1377 art. 8) and revokes purposes (art. 8e) without asking anyone.

type dataPurpose struct {
	ID, Title, Description, Version string
	Required, Granted, Decided      bool
	DecidedAt                       string
}

type dataHistory struct {
	Seq    int64
	Type   string
	At     string
	Client string
	Actor  string
}

type dataClient struct {
	ID, Name, Scopes, Since string
}

type dataPage struct {
	PolicyVersion string // accepted
	Purposes      []dataPurpose
	Clients       []dataClient
	History       []dataHistory
	Notice        string
	Problem       string
}

// bogota formats t as Colombian civil time, as receipts and the page show it.
func bogota(t time.Time) string {
	return t.In(calendar.Location()).Format("2006-01-02 15:04:05 -07:00")
}

func (s *dataPages) showMyData(w http.ResponseWriter, r *http.Request) error {
	_, u, ok := s.requireUser(w, r)
	if !ok {
		return nil
	}
	notice := ""
	switch r.URL.Query().Get("notice") {
	case "revoked":
		notice = "mydata.notice.revoked"
	case "client_revoked":
		notice = "mydata.notice.client_revoked"
	case "granted":
		notice = "mydata.notice.granted"
	}
	s.renderMyData(w, r, http.StatusOK, u, notice, "")
	return nil
}

func (s *dataPages) renderMyData(w http.ResponseWriter, r *http.Request, status int, u *identity.User, notice, problem string) {
	entries, err := identity.ConsentEntries(r.Context(), s.Store, u.ID)
	if err != nil {
		s.serverError(w, r, "consent entries", err)
		return
	}
	st, err := identity.FoldConsent(entries)
	if err != nil {
		s.serverError(w, r, "consent state", err)
		return
	}
	lang := s.legalLang(r)
	page := dataPage{Notice: notice, Problem: problem}
	if st.Policy != nil {
		page.PolicyVersion = st.Policy.Version
	}
	for _, p := range s.Legal.Purposes {
		d, decided := st.Purposes[p.ID]
		dp := dataPurpose{ID: p.ID, Title: p.Title[lang], Description: p.Description[lang], Version: d.Version,
			Required: p.Required, Granted: d.Granted, Decided: decided}
		if decided {
			dp.DecidedAt = bogota(st.DecidedAt[p.ID])
		}
		page.Purposes = append(page.Purposes, dp)
	}
	consents, err := s.Store.ScopeConsentsByUser(r.Context(), u.ID)
	if err != nil {
		s.serverError(w, r, "scope consents", err)
		return
	}
	for _, c := range consents {
		name := c.ClientID
		if cl, err := s.Store.ClientByID(r.Context(), c.ClientID); err == nil {
			name = cl.Name
		}
		page.Clients = append(page.Clients, dataClient{ID: c.ClientID, Name: name, Scopes: strings.Join(c.Scopes, " "), Since: bogota(c.GrantedAt)})
	}
	for i := len(entries) - 1; i >= 0; i-- {
		e := entries[i]
		page.History = append(page.History, dataHistory{Seq: e.Seq, Type: e.Type, At: bogota(e.OccurredAt), Client: e.ClientID, Actor: e.Actor})
	}
	s.Pages.Render(w, r, status, "mydata", page)
}

// revokePurpose records the revocation and ends the titular's tokens when
// the purpose carries scopes: every client must come back through the
// dispatcher, which grants only what is still authorized.
// grantPurpose records the authorization of a purpose the user declined
// or was never asked, from its text in force (shown on the page): a
// titular may authorize later what they refused (Ley 1581 art. 8).
func (s *dataPages) grantPurpose(w http.ResponseWriter, r *http.Request) error {
	u, p, st, ok, err := s.purposeForm(w, r)
	if !ok {
		return err
	}
	ctx := r.Context()
	if st.Granted(p.ID) {
		http.Redirect(w, r, "/account/data?notice=granted", http.StatusSeeOther)
		return nil
	}
	rec := identity.ConsentRecord{
		Responsable: s.Legal.Responsable, Page: "/account/data",
		Purposes: []identity.PurposeDecision{{ID: p.ID, Version: p.Version, SHA256: p.SHA256(), Required: p.Required, Granted: true}},
	}
	err = s.Store.AppendLedger(context.WithoutCancel(ctx), &identity.LedgerEntry{
		Kind: identity.LedgerConsent, Type: identity.ConsentAccepted, Subject: u.ID,
		IP: clientIP(r), UserAgent: truncate(r.UserAgent(), 256), Locale: s.legalLang(r), Payload: rec.Payload(),
	})
	if err != nil {
		return fmt.Errorf("record authorization: %w", err)
	}
	http.Redirect(w, r, "/account/data?notice=granted", http.StatusSeeOther)
	return nil
}

// purposeForm opens a post about one purpose: the signed-in user, the
// purpose named and the user's consent state; false when it has answered
// (or err is the fault).
func (s *dataPages) purposeForm(w http.ResponseWriter, r *http.Request) (*identity.User, identity.Purpose, identity.ConsentState, bool, error) {
	_, u, ok := s.accountPost(w, r)
	if !ok {
		return nil, identity.Purpose{}, identity.ConsentState{}, false, nil
	}
	p, found := s.Legal.Purpose(r.PostForm.Get("purpose"))
	if !found {
		s.renderMyData(w, r, http.StatusNotFound, u, "", "account.problem.not_found")
		return nil, identity.Purpose{}, identity.ConsentState{}, false, nil
	}
	st, err := consentState(r.Context(), s.Store, u.ID)
	if err != nil {
		return nil, identity.Purpose{}, identity.ConsentState{}, false, fmt.Errorf("consent state: %w", err)
	}
	return u, p, st, true, nil
}

func (s *dataPages) revokePurpose(w http.ResponseWriter, r *http.Request) error {
	u, p, st, ok, err := s.purposeForm(w, r)
	if !ok {
		return err
	}
	ctx := r.Context()
	if !st.Granted(p.ID) {
		http.Redirect(w, r, "/account/data?notice=revoked", http.StatusSeeOther)
		return nil
	}
	rec := identity.ConsentRecord{
		Responsable: s.Legal.Responsable, Page: "/account/data",
		Purposes: []identity.PurposeDecision{{ID: p.ID, Version: st.Purposes[p.ID].Version, SHA256: st.Purposes[p.ID].SHA256, Required: p.Required, Granted: false}},
	}
	entry := &identity.LedgerEntry{
		Kind: identity.LedgerConsent, Type: identity.ConsentRevoked, Subject: u.ID,
		IP: clientIP(r), UserAgent: truncate(r.UserAgent(), 256), Locale: s.legalLang(r), Payload: rec.Payload(),
	}
	bg := context.WithoutCancel(ctx)
	if err := s.Store.AppendLedger(bg, entry); err != nil {
		return fmt.Errorf("record revocation: %w", err)
	}
	if len(p.Scopes) > 0 {
		// Revocation takes effect now: the user's tokens are inactive at
		// introspection from this response on, and the clients that held
		// them hear it over the back channel.
		clients, err := s.Store.SubjectGrantClients(bg, u.ID)
		if err != nil {
			return fmt.Errorf("revoke tokens: %w", err)
		}
		if _, err := s.Store.DeactivateGrants(bg, identity.GrantFilter{Subject: u.ID}); err != nil {
			return fmt.Errorf("revoke tokens: %w", err)
		}
		if s.Logout != nil {
			s.Logout.NotifyLogout(bg, u.ID, clients)
		}
	}
	http.Redirect(w, r, "/account/data?notice=revoked", http.StatusSeeOther)
	return nil
}

// revokeClient withdraws a remembered scope consent and ends the user's
// tokens at that client: its next request meets the scope page again.
func (s *dataPages) revokeClient(w http.ResponseWriter, r *http.Request) error {
	_, u, ok := s.accountPost(w, r)
	if !ok {
		return nil
	}
	ctx := context.WithoutCancel(r.Context())
	clientID := r.PostForm.Get("client")
	c, err := s.Store.ScopeConsent(ctx, u.ID, clientID)
	if errors.Is(err, identity.ErrNotFound) {
		s.renderMyData(w, r, http.StatusNotFound, u, "", "account.problem.not_found")
		return nil
	}
	if err != nil {
		return fmt.Errorf("scope consent: %w", err)
	}
	payload, _ := json.Marshal(identity.ScopeRecord{Scopes: c.Scopes})
	if err := s.Store.AppendLedger(ctx, &identity.LedgerEntry{Kind: identity.LedgerConsent, Type: identity.ScopesRevoked, Subject: u.ID,
		ClientID: clientID, IP: clientIP(r), UserAgent: truncate(r.UserAgent(), 256), Locale: s.legalLang(r), Payload: payload}); err != nil {
		return fmt.Errorf("record revocation: %w", err)
	}
	if err := s.Store.DeleteScopeConsent(ctx, u.ID, clientID); err != nil && !errors.Is(err, identity.ErrNotFound) {
		return fmt.Errorf("delete scope consent: %w", err)
	}
	n, err := s.Store.DeactivateGrants(ctx, identity.GrantFilter{Subject: u.ID, ClientID: clientID})
	if err != nil {
		return fmt.Errorf("revoke tokens: %w", err)
	}
	if n > 0 && s.Logout != nil {
		s.Logout.NotifyLogout(ctx, u.ID, []string{clientID})
	}
	http.Redirect(w, r, "/account/data?notice=client_revoked", http.StatusSeeOther)
	return nil
}

// Receipt is the proof of one decision: the ledger entry, its place in the
// chain, and the exact texts it names.
type Receipt struct {
	Format      string                 `json:"format"`
	Seq         int64                  `json:"seq"`
	Type        string                 `json:"type"`
	OccurredAt  time.Time              `json:"occurred_at"`
	LocalTime   string                 `json:"occurred_at_colombia"`
	Subject     string                 `json:"subject"`
	Actor       string                 `json:"actor,omitempty"`
	ClientID    string                 `json:"client_id,omitempty"`
	IP          string                 `json:"ip"`
	UserAgent   string                 `json:"user_agent"`
	Locale      string                 `json:"locale"`
	Record      identity.ConsentRecord `json:"record"`
	PrevHash    string                 `json:"prev_hash"`
	Hash        string                 `json:"hash"`
	PolicyText  *ReceiptText           `json:"policy_text,omitempty"`
	NoticeText  *ReceiptText           `json:"notice_text,omitempty"`
	PurposeText []ReceiptText          `json:"purpose_texts"`
}

// ReceiptText is a published text as stored.
type ReceiptText struct {
	Kind    string `json:"kind"`
	Ref     string `json:"ref,omitempty"`
	Version string `json:"version"`
	Lang    string `json:"lang,omitempty"`
	Format  string `json:"format"`
	SHA256  string `json:"sha256"`
	Body    string `json:"body"`
}

func (s *dataPages) receipt(ctx context.Context, userID string, seq int64) (*Receipt, error) {
	entries, err := s.Store.LedgerEntries(ctx, identity.LedgerFilter{Subject: userID, Kind: identity.LedgerConsent, AfterSeq: seq - 1, Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(entries) == 0 || entries[0].Seq != seq {
		return nil, identity.ErrNotFound
	}
	e := entries[0]
	rc := &Receipt{Format: "portero-consent-receipt-v1", Seq: e.Seq, Type: e.Type, OccurredAt: e.OccurredAt, LocalTime: bogota(e.OccurredAt),
		Subject: e.Subject, Actor: e.Actor, ClientID: e.ClientID, IP: e.IP, UserAgent: e.UserAgent, Locale: e.Locale,
		PrevHash: e.PrevHash, Hash: e.Hash}
	if err := json.Unmarshal(e.Payload, &rc.Record); err != nil {
		return nil, err
	}
	text := func(kind, ref, version, lang string) (*ReceiptText, error) {
		t, err := s.Store.LegalTextByVersion(ctx, kind, ref, version, lang)
		if err != nil {
			return nil, err
		}
		return &ReceiptText{Kind: t.Kind, Ref: t.Ref, Version: t.Version, Lang: t.Lang, Format: t.Format, SHA256: t.SHA256, Body: t.Body}, nil
	}
	if p := rc.Record.Policy; p != nil {
		if rc.PolicyText, err = text(identity.LegalPolicy, "", p.Version, p.Lang); err != nil {
			return nil, err
		}
	}
	if n := rc.Record.Notice; n != nil {
		if rc.NoticeText, err = text(identity.LegalNotice, "", n.Version, n.Lang); err != nil {
			return nil, err
		}
	}
	for _, d := range rc.Record.Purposes {
		t, err := text(identity.LegalPurpose, d.ID, d.Version, "")
		if err != nil {
			return nil, err
		}
		rc.PurposeText = append(rc.PurposeText, *t)
	}
	return rc, nil
}

func (s *dataPages) showReceipt(w http.ResponseWriter, r *http.Request) error {
	_, u, ok := s.requireUser(w, r)
	if !ok {
		return nil
	}
	seq, err := strconv.ParseInt(mux.Vars(r)["seq"], 10, 64)
	if err != nil || seq < 1 {
		s.Pages.Error(w, r, http.StatusNotFound, "not_found", "mydata.receipt_not_found")
		return nil
	}
	rc, err := s.receipt(r.Context(), u.ID, seq)
	if errors.Is(err, identity.ErrNotFound) {
		// Another user's entry answers the same as a missing one.
		s.Pages.Error(w, r, http.StatusNotFound, "not_found", "mydata.receipt_not_found")
		return nil
	}
	if err != nil {
		return fmt.Errorf("receipt: %w", err)
	}
	if mux.Vars(r)["format"] == ".json" {
		w.Header().Set("Content-Disposition", `attachment; filename="portero-receipt-`+strconv.FormatInt(seq, 10)+`.json"`)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rc)
		return nil
	}
	lang := s.legalLang(r)
	page := struct {
		*Receipt
		Policy, Notice template.HTML
		Purposes       []dataPurpose
	}{Receipt: rc}
	if rc.PolicyText != nil {
		if page.Policy, err = legal.HTML(identity.LegalText{Format: rc.PolicyText.Format, Body: rc.PolicyText.Body}); err != nil {
			return fmt.Errorf("render policy: %w", err)
		}
	}
	if rc.NoticeText != nil {
		if page.Notice, err = legal.HTML(identity.LegalText{Format: rc.NoticeText.Format, Body: rc.NoticeText.Body}); err != nil {
			return fmt.Errorf("render notice: %w", err)
		}
	}
	for i, d := range rc.Record.Purposes {
		var p identity.Purpose
		_ = json.Unmarshal([]byte(rc.PurposeText[i].Body), &p)
		title := p.Title[lang]
		if title == "" && len(s.Legal.Languages) > 0 {
			title = p.Title[s.Legal.Languages[0]]
		}
		page.Purposes = append(page.Purposes, dataPurpose{ID: d.ID, Title: title, Description: p.Description[lang], Version: d.Version,
			Required: d.Required, Granted: d.Granted, Decided: true})
	}
	s.Pages.Render(w, r, http.StatusOK, "receipt", page)
	return nil
}

// export is everything Portero holds about the titular (Ley 1581 art. 8a
// and 8f: to know and to access, free of charge), as one JSON document.
type export struct {
	Format     string          `json:"format"`
	ExportedAt time.Time       `json:"exported_at"`
	Profile    exportProfile   `json:"profile"`
	Factors    exportFactors   `json:"second_factors"`
	Sessions   []exportSession `json:"sessions"`
	Clients    []exportClient  `json:"applications_with_access"`
	Requests   []exportRequest `json:"requests"`
	Ledger     []exportEntry   `json:"records"`
}

type exportRequest struct {
	ID          string     `json:"id"`
	Kind        string     `json:"kind"`
	Type        string     `json:"type"`
	Status      string     `json:"status"`
	Description string     `json:"description"`
	ReceivedAt  time.Time  `json:"received_at"`
	DueAt       time.Time  `json:"due_at"`
	ExtendedDue *time.Time `json:"extended_due_at,omitempty"`
	Answer      string     `json:"answer,omitempty"`
}

type exportProfile struct {
	ID              string     `json:"id"`
	Username        string     `json:"username"`
	Email           string     `json:"email"`
	EmailVerifiedAt *time.Time `json:"email_verified_at,omitempty"`
	Roles           []string   `json:"roles"`
	Disabled        bool       `json:"disabled"`
	CreatedAt       time.Time  `json:"created_at"`
	// Passwords are kept only as an argon2id hash, which is not exported.
	HasPassword bool `json:"has_password"`
}

type exportFactors struct {
	TOTP          bool            `json:"authenticator_app"`
	Passkeys      []exportPasskey `json:"passkeys"`
	RecoveryCodes int             `json:"unused_recovery_codes"`
}

// exportPasskey is a passkey's metadata; the credential holds only a
// public key (no biometric ever reaches Portero).
type exportPasskey struct {
	Name       string     `json:"name"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
}

type exportSession struct {
	IP         string    `json:"ip"`
	UserAgent  string    `json:"user_agent"`
	AuthTime   time.Time `json:"signed_in_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	AMR        []string  `json:"methods"`
}

type exportClient struct {
	ClientID  string    `json:"client_id"`
	Scopes    []string  `json:"scopes"`
	GrantedAt time.Time `json:"granted_at"`
}

type exportEntry struct {
	Seq        int64           `json:"seq"`
	OccurredAt time.Time       `json:"occurred_at"`
	Kind       string          `json:"kind"`
	Type       string          `json:"type"`
	Actor      string          `json:"actor,omitempty"`
	ClientID   string          `json:"client_id,omitempty"`
	IP         string          `json:"ip,omitempty"`
	UserAgent  string          `json:"user_agent,omitempty"`
	Payload    json.RawMessage `json:"details"`
	Hash       string          `json:"hash"`
}

func (s *dataPages) exportData(w http.ResponseWriter, r *http.Request) error {
	_, u, ok := s.requireUser(w, r)
	if !ok {
		return nil
	}
	out, err := s.exportOf(r.Context(), u)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", `attachment; filename="portero-my-data.json"`)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(out)
	return nil
}

// exportOf gathers everything Portero holds about u (Ley 1581 art. 8 a):
// the profile, the factors (never their secrets), sessions, clients
// authorized, requests and every ledger entry about u.
func (s *dataPages) exportOf(ctx context.Context, u *identity.User) (*export, error) {
	out := &export{Format: "portero-data-export-v1", ExportedAt: s.Now().UTC(),
		Profile: exportProfile{ID: u.ID, Username: u.Username, Email: u.Email, EmailVerifiedAt: u.EmailVerifiedAt, Roles: u.Roles,
			Disabled: u.Disabled, CreatedAt: u.CreatedAt, HasPassword: u.PasswordHash != ""},
		Sessions: []exportSession{}, Clients: []exportClient{}, Requests: []exportRequest{}}
	var err error
	if out.Factors, err = s.exportFactors(ctx, u.ID); err != nil {
		return nil, err
	}
	sessions, err := s.Store.SessionsByUser(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	for _, se := range sessions {
		out.Sessions = append(out.Sessions, exportSession{IP: se.IP, UserAgent: se.UserAgent, AuthTime: se.AuthTime, LastSeenAt: se.LastSeenAt, AMR: se.AMR})
	}
	consents, err := s.Store.ScopeConsentsByUser(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	for _, c := range consents {
		out.Clients = append(out.Clients, exportClient{ClientID: c.ClientID, Scopes: c.Scopes, GrantedAt: c.GrantedAt})
	}
	requests, err := s.Store.DataRequestsByUser(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	for _, d := range requests {
		out.Requests = append(out.Requests, exportRequest{ID: d.ID, Kind: d.Kind, Type: d.Type, Status: d.Status, Description: d.Description,
			ReceivedAt: d.ReceivedAt, DueAt: d.DueAt, ExtendedDue: d.ExtendedDueAt, Answer: d.Answer})
	}
	if out.Ledger, err = s.exportLedger(ctx, u.ID); err != nil {
		return nil, err
	}
	return out, nil
}

func (s *dataPages) exportFactors(ctx context.Context, userID string) (exportFactors, error) {
	f, err := s.Store.SecondFactors(ctx, userID)
	if err != nil {
		return exportFactors{}, err
	}
	out := exportFactors{TOTP: f.TOTP, RecoveryCodes: f.RecoveryCodes, Passkeys: []exportPasskey{}}
	passkeys, err := s.Store.WebAuthnCredentialsByUser(ctx, userID)
	if err != nil {
		return exportFactors{}, err
	}
	for _, p := range passkeys {
		out.Passkeys = append(out.Passkeys, exportPasskey{Name: p.Name, CreatedAt: p.CreatedAt, LastUsedAt: p.LastUsedAt})
	}
	return out, nil
}

// exportLedger reads every ledger entry about the user, a page at a time.
func (s *dataPages) exportLedger(ctx context.Context, userID string) ([]exportEntry, error) {
	entries := []exportEntry{}
	var after int64
	for {
		page, err := s.Store.LedgerEntries(ctx, identity.LedgerFilter{Subject: userID, AfterSeq: after, Limit: identity.LedgerMaxLimit})
		if err != nil {
			return nil, err
		}
		for _, e := range page {
			entries = append(entries, exportEntry{Seq: e.Seq, OccurredAt: e.OccurredAt, Kind: e.Kind, Type: e.Type, Actor: e.Actor,
				ClientID: e.ClientID, IP: e.IP, UserAgent: e.UserAgent, Payload: e.Payload, Hash: e.Hash})
		}
		if len(page) < identity.LedgerMaxLimit {
			return entries, nil
		}
		after = page[len(page)-1].Seq
	}
}
