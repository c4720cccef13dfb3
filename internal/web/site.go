// Package web serves Portero's browser pages: sign-in (password, TOTP,
// passkeys, recovery codes), sign-up, e-mail verification, password reset
// and the account page. Every page redirects back to /oauth2/auth?flow=ID
// (the dispatcher) or to /account, never to a URL taken from a request.
package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/gorilla/mux"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/localpath"
	"github.com/portero-id/portero/internal/mail"
	"github.com/portero-id/portero/internal/render"
	"github.com/portero-id/portero/internal/seal"
	"github.com/portero-id/portero/internal/session"
	"github.com/portero-id/portero/internal/throttle"
)

// flowPattern matches the opaque ids the dispatcher hands out; anything
// else is dropped, so the only redirect target is /oauth2/auth?flow=ID.
var flowPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{16,64}$`)

// Throttle is the brute-force guard of every credential check.
type Throttle interface {
	Check(ctx context.Context, account, ip string) (throttle.Decision, error)
	Fail(ctx context.Context, account, ip string) (throttle.Decision, error)
	Success(ctx context.Context, account, ip string) error
}

// LogoutNotifier sends OpenID Connect Back-Channel Logout tokens.
type LogoutNotifier interface {
	NotifyLogout(ctx context.Context, subject string, clientIDs []string)
}

// Options are the policy knobs of the pages.
type Options struct {
	Issuer        string
	SignupEnabled bool
	// MailEnabled: sign-up, verification and reset need e-mail.
	MailEnabled  bool
	DefaultRoles []string
	MFA          identity.MFAPolicy
	// VerifyEmailLifespan and ResetLifespan bound the e-mailed links.
	VerifyEmailLifespan time.Duration
	ResetLifespan       time.Duration
	// RPName names Portero in authenticator apps and passkey prompts.
	RPName string
	// Dev mounts /dev/mail.
	Dev bool
}

// Site holds the pages' dependencies.
type Site struct {
	Opts     Options
	Store    identity.Store
	Sessions *session.Manager
	Pages    *render.Renderer
	Log      *slog.Logger
	// CSRF rejects cross-origin form posts (Go's CrossOriginProtection,
	// which reads Sec-Fetch-Site/Origin: no token to leak or forget).
	CSRF *http.CrossOriginProtection
	// Throttle meters what is not a credential check (sign-up, resent
	// links); SignIn owns every credential check.
	Throttle Throttle
	SignIn   *identity.SignIn
	Hasher   *identity.PasswordHasher
	Policy   identity.PasswordPolicy
	// TOTPSeal encrypts TOTP secrets at rest; RecoveryKeys key recovery
	// code digests (current first, then keys of rotated-out secrets).
	TOTPSeal *seal.Box
	// Stuffing asks a network under a credential-stuffing wave for a
	// proof of work at sign-in; nil never does.
	Stuffing     *StuffingWatch
	RecoveryKeys [][]byte
	// WebAuthn is nil when passkeys are unavailable (an issuer whose host
	// is an IP address: WebAuthn needs a domain).
	WebAuthn *webauthn.WebAuthn
	Mail     mail.Sender
	// Legal is the habeas-data configuration in force.
	Legal *identity.LegalSet
	// Logout tells clients, over the OIDC back channel, that a user's
	// authorization for them ended.
	Logout LogoutNotifier
	// Requests files and changes data-subject requests (with their ledger
	// entries).
	Requests *identity.Requests
	// DevMail, in dev mode, is the mailer whose messages /dev/mail shows.
	DevMail *mail.Dev
	Now     func() time.Time

	background sync.WaitGroup
	shared     sync.Once
	base       *base
	cred       *credentials
}

// kit builds, once, what the handler groups (and SendResetLink) share.
func (s *Site) kit() (*base, *credentials) {
	s.shared.Do(func() {
		s.base = &base{Opts: s.Opts, Store: s.Store, Sessions: s.Sessions, Pages: s.Pages, Log: s.Log, Now: s.Now, background: &s.background}
		s.cred = &credentials{base: s.base, Hasher: s.Hasher, Policy: s.Policy, TOTPSeal: s.TOTPSeal, RecoveryKeys: s.RecoveryKeys,
			WebAuthn: s.WebAuthn, Mail: s.Mail, Logout: s.Logout}
	})
	return s.base, s.cred
}

// SendResetLink mails u the password-reset link "forgot password" sends,
// in lang, for an administrator (manage.Service.ResetLinks; the server
// wires it only when mail is on).
func (s *Site) SendResetLink(ctx context.Context, u *identity.User, lang string) error {
	_, cred := s.kit()
	return cred.mailReset(ctx, u, lang)
}

// The pages are handler groups by concern, each holding only what it
// uses; Site is their composition root, and Mount builds them. Shared by
// all of them, base: rendering, the browser session, the audit trail,
// the clock, work after the response.
type base struct {
	Opts       Options
	Store      identity.Store
	Sessions   *session.Manager
	Pages      *render.Renderer
	Log        *slog.Logger
	Now        func() time.Time
	background *sync.WaitGroup
}

// credentials are the operations on an account's credentials that more
// than one group needs: TOTP and recovery-code enrolment, the passkey
// ceremonies' state, a new password (and what it ends), e-mailed links.
// Not handlers.
type credentials struct {
	*base
	Hasher       *identity.PasswordHasher
	Policy       identity.PasswordPolicy
	TOTPSeal     *seal.Box
	RecoveryKeys [][]byte
	WebAuthn     *webauthn.WebAuthn
	Mail         mail.Sender
	Logout       LogoutNotifier
}

// signInPages: password, second factor, enrolment and passkey sign-in.
type signInPages struct {
	*base
	*credentials
	SignIn   *identity.SignIn
	Stuffing *StuffingWatch
}

// accountPages: the account page and the changes to one's credentials
// and sessions.
type accountPages struct {
	*base
	*credentials
	SignIn   *identity.SignIn
	Throttle Throttle
	DevMail  *mail.Dev
}

// accountsPages: sign-up, e-mail verification and password reset.
type accountsPages struct {
	*base
	*credentials
	Throttle Throttle
}

// consentPages: the habeas-data authorization and a client's scopes.
type consentPages struct {
	*base
	*legalView
}

// dataPages: my data (authorizations, receipts, export) and
// data-subject requests.
type dataPages struct {
	*base
	*legalView
	Requests *identity.Requests
	Logout   LogoutNotifier
}

// inBackground runs fn after the response. Work done only for existing
// accounts (link tokens, mail through a relay that may take seconds) must
// not show in the response time, or the time would tell who has an
// account. r is cloned with a context that outlives the request; Wait
// lets shutdown (and tests) see the work finish.
func (s *base) inBackground(r *http.Request, what string, fn func(r *http.Request) error) {
	bg := r.Clone(context.WithoutCancel(r.Context()))
	s.background.Add(1)
	go func() {
		defer s.background.Done()
		ctx, cancel := context.WithTimeout(bg.Context(), time.Minute)
		defer cancel()
		if err := fn(bg.WithContext(ctx)); err != nil {
			s.Log.ErrorContext(ctx, what, "err", err)
		}
	}()
}

// Wait blocks until the background work started so far has finished.
func (s *Site) Wait() { s.background.Wait() }

// Mount builds the handler groups from the site's fields, read once here
// (set them all before), and registers the pages. State-changing routes
// go through CSRF. It is long on purpose: one table of every route, read
// top to bottom.
func (s *Site) Mount(r *mux.Router) {
	b, cred := s.kit()
	signIn := &signInPages{base: b, credentials: cred, SignIn: s.SignIn, Stuffing: s.Stuffing}
	account := &accountPages{base: b, credentials: cred, SignIn: s.SignIn, Throttle: s.Throttle, DevMail: s.DevMail}
	accounts := &accountsPages{base: b, credentials: cred, Throttle: s.Throttle}
	legal := &legalView{Legal: s.Legal, pages: s.Pages}
	consent := &consentPages{base: b, legalView: legal}
	data := &dataPages{base: b, legalView: legal, Requests: s.Requests, Logout: s.Logout}

	get := func(path string, h handler) {
		r.Handle(path, b.page(h)).Methods(http.MethodGet, http.MethodHead)
	}
	post := func(path string, h handler) {
		r.Handle(path, s.CSRF.Handler(b.page(h))).Methods(http.MethodPost)
	}
	postJSON := func(path string, h handler) {
		r.Handle(path, s.CSRF.Handler(b.json(h))).Methods(http.MethodPost)
	}
	get("/login", signIn.showLogin)
	post("/login", signIn.submitLogin)
	get("/login/mfa", signIn.showMFA)
	post("/login/mfa", signIn.submitMFA)
	get("/login/enroll", signIn.showEnroll)
	post("/login/enroll", signIn.submitEnroll)

	if s.WebAuthn != nil {
		postJSON("/webauthn/login/begin", signIn.passkeyLoginBegin)
		postJSON("/webauthn/login/finish", signIn.passkeyLoginFinish)
		postJSON("/webauthn/register/begin", account.passkeyRegisterBegin)
		postJSON("/webauthn/register/finish", account.passkeyRegisterFinish)
	}

	get("/signup", accounts.showSignup)
	post("/signup", accounts.submitSignup)
	get("/verify-email", accounts.showVerifyEmail)
	post("/verify-email", accounts.submitVerifyEmail)
	get("/password/forgot", accounts.showForgot)
	post("/password/forgot", accounts.submitForgot)
	get("/password/reset", accounts.showReset)
	post("/password/reset", accounts.submitReset)

	get("/consent", consent.showConsent)
	post("/consent", consent.submitConsent)
	get("/consent/scopes", consent.showScopeConsent)
	post("/consent/scopes", consent.submitScopeConsent)
	get("/legal/{kind:policy|notice}", consent.showLegal)
	get("/legal/{kind:policy|notice}/{version}", consent.showLegal)

	get("/account", account.showAccount)
	get("/account/data", data.showMyData)
	get("/account/data/export.json", data.exportData)
	post("/account/data/revoke", data.revokePurpose)
	post("/account/data/grant", data.grantPurpose)
	post("/account/data/clients/revoke", data.revokeClient)
	get("/account/requests", data.showRequests)
	post("/account/requests", data.fileRequest)
	post("/account/requests/{id}/info", data.provideRequestInfo)
	post("/account/requests/{id}/withdraw", data.withdrawRequest)
	get("/account/data/receipts/{seq:[0-9]+}{format:(?:\\.json)?}", data.showReceipt)
	post("/account/password", account.changePassword)
	post("/account/verify-email", account.resendVerification)
	post("/account/email", account.requestEmailChange)
	get("/account/email/confirm", account.showEmailChange)
	post("/account/email/confirm", account.confirmEmailChange)
	get("/account/totp", account.showTOTPSetup)
	post("/account/totp", account.confirmTOTPSetup)
	post("/account/totp/remove", account.removeTOTP)
	post("/account/passkeys/remove", account.removePasskey)
	post("/account/recovery-codes", account.regenerateRecoveryCodes)
	post("/account/sessions/revoke", account.revokeSession)
	post("/account/sessions/revoke-all", account.revokeAllSessions)
	post("/account/logout", account.logout)

	post("/lang", account.setLanguage)
	if s.Opts.Dev && s.DevMail != nil {
		get("/dev/mail", account.showDevMail)
	}
}

// flowParam returns a well-formed flow id from the query or form, or "".
func flowParam(r *http.Request) string {
	f := r.FormValue("flow")
	if !flowPattern.MatchString(f) {
		return ""
	}
	return f
}

// finish sends a signed-in browser on: back to the dispatcher when a flow
// is waiting, else to the account page.
func (s *base) finish(w http.ResponseWriter, r *http.Request, flow string) {
	if flow != "" {
		localpath.Redirect(w, r, "/oauth2/auth?flow="+url.QueryEscape(flow))
		return
	}
	http.Redirect(w, r, "/account", http.StatusSeeOther)
}

// handler is a page: it answers, or returns the fault it could not
// answer for, which its surface's wrapper turns into the answer.
type handler func(w http.ResponseWriter, r *http.Request) error

// page answers a page's fault with the error page (503 with Retry-After
// for an outage, else 500); a refusal the page can explain, it renders
// itself.
func (s *base) page(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.serverError(w, r, "page", err)
		}
	})
}

// json answers a JSON endpoint's fault (the passkey ceremonies) in JSON.
func (s *base) json(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.jsonServerError(w, r, "passkey ceremony", err)
		}
	})
}

// spendLink spends an e-mailed link's token of purpose and loads its
// user. false means the page has answered (a link used, expired or whose
// account is gone: 400), or err is the fault (the storage: 503), never
// taken for an expired link.
func (s *base) spendLink(w http.ResponseWriter, r *http.Request, purpose, value string) (*identity.OneTimeToken, *identity.User, bool, error) {
	ctx := r.Context()
	t, err := s.Store.ConsumeOneTimeToken(ctx, purpose, tokenDigest(value), s.Now())
	if err == nil {
		var u *identity.User
		if u, err = s.Store.UserByID(ctx, t.UserID); err == nil {
			return t, u, true, nil
		}
	}
	if errors.Is(err, identity.ErrNotFound) {
		s.Pages.Error(w, r, http.StatusBadRequest, "invalid_token", "error.link_expired")
		return nil, nil, false, nil
	}
	return nil, nil, false, fmt.Errorf("spend %s link: %w", purpose, err)
}

// serverError logs err and shows the generic error page.
func (s *base) serverError(w http.ResponseWriter, r *http.Request, what string, err error) {
	s.Log.ErrorContext(r.Context(), what, "err", err)
	s.Pages.Failure(w, r, err)
}

func (s *base) badRequest(w http.ResponseWriter, r *http.Request) {
	s.Pages.Error(w, r, http.StatusBadRequest, "invalid_request", "error.form")
}

// audit appends an event; a failure to record is logged loudly but does
// not undo what the user did.
func (s *base) audit(r *http.Request, typ, userID string, details map[string]string) {
	e := &identity.AuditEvent{
		OccurredAt: s.Now().UTC(), Type: typ, UserID: userID,
		IP: clientIP(r), UserAgent: truncate(r.UserAgent(), 256), Details: details,
	}
	// The request may be cancelled once the response is written; the
	// event must still land.
	ctx := context.WithoutCancel(r.Context())
	if err := s.Store.AppendAudit(ctx, e); err != nil {
		s.Log.ErrorContext(ctx, "audit event not recorded", "type", typ, "user_id", userID, "err", err)
	}
}

// signedIn returns the browser's session and user, or nil, nil.
func (s *base) signedIn(r *http.Request) (*identity.Session, *identity.User, error) {
	sess, err := s.Sessions.Current(r)
	if errors.Is(err, identity.ErrNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	u, err := s.Store.UserByID(r.Context(), sess.UserID)
	if errors.Is(err, identity.ErrNotFound) || (err == nil && u.Disabled) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	return sess, u, nil
}

// requireUser answers for a browser without a session (to the sign-in
// page) and reports whether the handler may go on.
func (s *base) requireUser(w http.ResponseWriter, r *http.Request) (*identity.Session, *identity.User, bool) {
	sess, u, err := s.signedIn(r)
	if err != nil {
		s.serverError(w, r, "load session", err)
		return nil, nil, false
	}
	if sess == nil {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return nil, nil, false
	}
	return sess, u, true
}

// startSession ends a sign-in whose every required step is done: a new
// session (new id: no fixation), the pending cookie cleared, the success
// audited with details added to the methods used.
func (s *signInPages) startSession(w http.ResponseWriter, r *http.Request, u *identity.User, amr []string, details map[string]string) error {
	amr = identity.SessionAMR(amr)
	if _, err := s.Sessions.Start(w, r, u.ID, amr, identity.ACRFor(amr)); err != nil {
		return err
	}
	s.Sessions.ClearPending(w)
	if details == nil {
		details = map[string]string{}
	}
	details["amr"] = strings.Join(amr, " ")
	s.noticeNewDevice(r, u)
	s.audit(r, identity.AuditLoginSuccess, u.ID, details)
	return nil
}

// completeSignIn starts the session and sends the browser on.
func (s *signInPages) completeSignIn(w http.ResponseWriter, r *http.Request, u *identity.User, amr []string, flow string) {
	if err := s.startSession(w, r, u, amr, nil); err != nil {
		s.serverError(w, r, "start session", err)
		return
	}
	s.finish(w, r, flow)
}

func clientIP(r *http.Request) string { return session.ClientIP(r) }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// throttleIP is the address the per-IP counter is kept for: an IPv6
// client usually controls a whole /64, so the counter covers that prefix.
func throttleIP(r *http.Request) string {
	ip := net.ParseIP(clientIP(r))
	if ip == nil || ip.To4() != nil {
		return clientIP(r)
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}
