package web

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/identity/calendar"
	"github.com/portero-id/portero/internal/i18n"
	"github.com/portero-id/portero/internal/localpath"
)

type accountSession struct {
	ID        string
	Device    string
	IP        string
	LastSeen  time.Time
	CreatedAt time.Time
	Current   bool
}

type accountPasskey struct {
	ID       string
	Name     string
	Created  time.Time
	LastUsed *time.Time
}

// accountSignIn is one of the recent sign-ins the account page lists.
type accountSignIn struct {
	When, Device, Network string
}

type accountPage struct {
	User         *identity.User
	TOTP         bool
	Passkeys     []accountPasskey
	RecoveryLeft int
	Sessions     []accountSession
	SignIns      []accountSignIn
	MFARequired  bool
	// HasFactor: recovery codes mean something only with a second factor.
	HasFactor     bool
	MinLength     int
	CanRemoveMFA  bool
	Notice        string
	Problem       string
	MailEnabled   bool
	PasskeysAvail bool
}

func (s *accountPages) accountData(r *http.Request, sess *identity.Session, u *identity.User) (*accountPage, error) {
	ctx := r.Context()
	f, err := s.SignIn.Factors(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	sessions, err := s.Store.SessionsByUser(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	page := &accountPage{MinLength: s.minLength(), User: u, TOTP: f.TOTP, RecoveryLeft: f.Recovery, MFARequired: s.Opts.MFA.Requires(u),
		MailEnabled: s.Opts.MailEnabled, PasskeysAvail: s.WebAuthn != nil}
	factorCount := len(f.Passkeys)
	if f.TOTP {
		factorCount++
	}
	page.CanRemoveMFA = s.Opts.MFA.MayRemoveFactor(u, factorCount)
	page.HasFactor = factorCount > 0
	for _, p := range f.Passkeys {
		page.Passkeys = append(page.Passkeys, accountPasskey{ID: p.ID, Name: p.Name, Created: p.CreatedAt, LastUsed: p.LastUsedAt})
	}
	for _, o := range sessions {
		page.Sessions = append(page.Sessions, accountSession{
			ID: o.ID, Device: describeDevice(o.UserAgent), IP: o.IP, LastSeen: o.LastSeenAt, CreatedAt: o.CreatedAt,
			Current: o.ID == sess.ID,
		})
	}
	signIns, err := s.Store.LedgerEntries(ctx, identity.LedgerFilter{Subject: u.ID, Kind: identity.LedgerAudit,
		Types: []string{identity.AuditLoginSuccess}, Newest: true, Limit: 10})
	if err != nil {
		return nil, err
	}
	for _, e := range signIns {
		d := identity.DeviceOf(e.IP, e.UserAgent)
		page.SignIns = append(page.SignIns, accountSignIn{When: e.OccurredAt.In(calendar.Location()).Format("2006-01-02 15:04"),
			Device: describeDevice(e.UserAgent), Network: cmp.Or(d.Network, "?")})
	}
	return page, nil
}

// describeDevice gives a short, recognisable name for a user agent; an
// unknown one is shown as it is, shortened.
func describeDevice(ua string) string {
	if name := identity.DeviceOf("", ua).Name(); name != "?" {
		return name
	}
	return truncate(ua, 60)
}

func (s *accountPages) renderAccount(w http.ResponseWriter, r *http.Request, status int, sess *identity.Session, u *identity.User, notice, problem string) {
	page, err := s.accountData(r, sess, u)
	if err != nil {
		s.serverError(w, r, "account page", err)
		return
	}
	page.Notice, page.Problem = notice, problem
	s.Pages.Render(w, r, status, "account", page)
}

var accountNotices = []string{"password_changed", "totp_enrolled", "totp_removed", "passkey_added", "passkey_removed", "session_revoked", "verification_sent", "email_change_sent", "email_changed"}

func (s *accountPages) showAccount(w http.ResponseWriter, r *http.Request) error {
	sess, u, ok := s.requireUser(w, r)
	if !ok {
		return nil
	}
	notice := ""
	if n := r.URL.Query().Get("notice"); n != "" {
		for _, known := range accountNotices {
			if n == known {
				notice = "account.notice." + n
			}
		}
	}
	s.renderAccount(w, r, http.StatusOK, sess, u, notice, "")
	return nil
}

// accountPost parses the form of a signed-in user's account action.
func (s *base) accountPost(w http.ResponseWriter, r *http.Request) (*identity.Session, *identity.User, bool) {
	if err := r.ParseForm(); err != nil {
		s.badRequest(w, r)
		return nil, nil, false
	}
	return s.requireUser(w, r)
}

// fresh is identity.IsFresh on the page's clock: the one freshness rule
// for every change of factors (the account page, passkeys, the enrolment
// step of a sign-in).
func (s *base) fresh(authTime time.Time) bool {
	return identity.IsFresh(authTime, s.Now())
}

// reauthURL is the sign-in page that brings the user back to the account
// page, freshly signed in.
func reauthURL(u *identity.User) string {
	return "/login?notice=reauth&login_hint=" + url.QueryEscape(u.Username)
}

// requireFresh is requireUser for changes to the account's factors.
func (s *base) requireFresh(w http.ResponseWriter, r *http.Request) (*identity.Session, *identity.User, bool) {
	if r.Method == http.MethodPost {
		if err := r.ParseForm(); err != nil {
			s.badRequest(w, r)
			return nil, nil, false
		}
	}
	sess, u, ok := s.requireUser(w, r)
	if ok && !s.fresh(sess.AuthTime) {
		localpath.Redirect(w, r, reauthURL(u))
		return nil, nil, false
	}
	return sess, u, ok
}

// reconfirm checks the current password a change needs (the form's
// current_password) and reports whether the change may go on; when it
// may not, the page has answered (429 while the guard refuses, 401 for a
// wrong password), or the error is the fault.
func (s *accountPages) reconfirm(w http.ResponseWriter, r *http.Request, sess *identity.Session, u *identity.User, change string) (bool, error) {
	c, err := s.SignIn.Reconfirm(r.Context(), u, r.PostForm.Get("current_password"), throttleIP(r))
	switch {
	case err != nil:
		return false, fmt.Errorf("password check: %w", err)
	case c.Refused:
		w.Header().Set("Retry-After", strconv.Itoa(int((max(c.Wait, time.Second)+time.Second-1)/time.Second)))
		s.renderAccount(w, r, http.StatusTooManyRequests, sess, u, "", "account.problem.slow_down")
		return false, nil
	case !c.Passed:
		s.auditFailure(r, c, "password", map[string]string{"context": change})
		s.renderAccount(w, r, http.StatusUnauthorized, sess, u, "", "account.problem.wrong_password")
		return false, nil
	}
	return true, nil
}

func (s *accountPages) changePassword(w http.ResponseWriter, r *http.Request) error {
	sess, u, ok := s.accountPost(w, r)
	if !ok {
		return nil
	}
	ctx := r.Context()
	next := r.PostForm.Get("new_password")
	if ok, err := s.reconfirm(w, r, sess, u, "change_password"); !ok {
		return err
	}
	if err := s.Policy.Check(next, u.Username, u.Email); err != nil {
		s.renderAccount(w, r, http.StatusBadRequest, sess, u, "", passwordProblem(err))
		return nil
	}
	// This session just proved the current password and stays.
	if err := s.replacePassword(ctx, u, next, sess.ID); err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	s.audit(r, identity.AuditPasswordChanged, u.ID, nil)
	http.Redirect(w, r, "/account?notice=password_changed", http.StatusSeeOther)
	return nil
}

func (s *accountPages) resendVerification(w http.ResponseWriter, r *http.Request) error {
	sess, u, ok := s.accountPost(w, r)
	if !ok {
		return nil
	}
	if u.EmailVerifiedAt == nil && u.Email != "" && s.Opts.MailEnabled {
		// Metered like a failure: a stolen session must not turn Portero
		// into a mail cannon aimed at one inbox.
		acct, ip := "verify:"+u.ID, throttleIP(r)
		d, err := s.Throttle.Check(r.Context(), acct, ip)
		if err == nil && d.Allowed {
			_, err = s.Throttle.Fail(r.Context(), acct, ip)
		}
		if err != nil {
			return fmt.Errorf("throttle: %w", err)
		}
		if !d.Allowed {
			s.renderAccount(w, r, http.StatusTooManyRequests, sess, u, "", "account.problem.slow_down")
			return nil
		}
		if err := s.sendVerification(r, u, ""); err != nil {
			return fmt.Errorf("send verification: %w", err)
		}
	}
	http.Redirect(w, r, "/account?notice=verification_sent", http.StatusSeeOther)
	return nil
}

func (s *accountPages) showTOTPSetup(w http.ResponseWriter, r *http.Request) error {
	_, u, ok := s.requireFresh(w, r)
	if !ok {
		return nil
	}
	page, err := s.newTOTPEnrollment(r, u)
	if errors.Is(err, identity.ErrConflict) {
		http.Redirect(w, r, "/account", http.StatusSeeOther)
		return nil
	}
	if err != nil {
		return fmt.Errorf("totp enrolment: %w", err)
	}
	page.Action = "/account/totp"
	s.Pages.Render(w, r, http.StatusOK, "totpsetup", page)
	return nil
}

func (s *accountPages) confirmTOTPSetup(w http.ResponseWriter, r *http.Request) error {
	_, u, ok := s.requireFresh(w, r)
	if !ok {
		return nil
	}
	confirmed, err := s.confirmTOTP(r, u)
	if err != nil {
		return fmt.Errorf("confirm totp: %w", err)
	}
	if !confirmed {
		page, err := s.newTOTPEnrollment(r, u)
		if err != nil {
			return fmt.Errorf("totp enrolment: %w", err)
		}
		page.Action, page.Failed = "/account/totp", true
		s.Pages.Render(w, r, http.StatusUnauthorized, "totpsetup", page)
		return nil
	}
	left, err := s.Store.UnusedRecoveryCodes(r.Context(), u.ID)
	if err != nil {
		return fmt.Errorf("count recovery codes: %w", err)
	}
	if left > 0 {
		http.Redirect(w, r, "/account?notice=totp_enrolled", http.StatusSeeOther)
		return nil
	}
	// The first factor comes with recovery codes, shown once.
	codes, err := s.issueRecoveryCodes(r, u.ID)
	if err != nil {
		return fmt.Errorf("recovery codes: %w", err)
	}
	s.Pages.Render(w, r, http.StatusOK, "recoverycodes", recoveryCodesPage{Codes: codes, Continue: "/account"})
	return nil
}

// mayRemoveFactor answers (409, or an error page) when the MFA policy
// forbids removing one of u's factors, and reports whether to go on. One
// query: the factor counts, not the whole account page.
func (s *accountPages) mayRemoveFactor(w http.ResponseWriter, r *http.Request, sess *identity.Session, u *identity.User) bool {
	f, err := s.Store.SecondFactors(r.Context(), u.ID)
	if err != nil {
		s.serverError(w, r, "second factors", err)
		return false
	}
	n := f.Passkeys
	if f.TOTP {
		n++
	}
	if !s.Opts.MFA.MayRemoveFactor(u, n) {
		s.renderAccount(w, r, http.StatusConflict, sess, u, "", "account.problem.last_factor")
		return false
	}
	return true
}

func (s *accountPages) removeTOTP(w http.ResponseWriter, r *http.Request) error {
	sess, u, ok := s.requireFresh(w, r)
	if !ok {
		return nil
	}
	if !s.mayRemoveFactor(w, r, sess, u) {
		return nil
	}
	if err := s.Store.DeleteTOTP(r.Context(), u.ID); err != nil && !errors.Is(err, identity.ErrNotFound) {
		return fmt.Errorf("remove totp: %w", err)
	}
	s.audit(r, identity.AuditTOTPRemoved, u.ID, nil)
	http.Redirect(w, r, "/account?notice=totp_removed", http.StatusSeeOther)
	return nil
}

func (s *accountPages) removePasskey(w http.ResponseWriter, r *http.Request) error {
	sess, u, ok := s.requireFresh(w, r)
	if !ok {
		return nil
	}
	if !s.mayRemoveFactor(w, r, sess, u) {
		return nil
	}
	id := r.PostForm.Get("id")
	err := s.Store.DeleteWebAuthnCredential(r.Context(), u.ID, id)
	if errors.Is(err, identity.ErrNotFound) {
		// Someone else's passkey, or gone: same answer.
		s.renderAccount(w, r, http.StatusNotFound, sess, u, "", "account.problem.not_found")
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove passkey: %w", err)
	}
	s.audit(r, identity.AuditPasskeyRemoved, u.ID, map[string]string{"credential": id})
	http.Redirect(w, r, "/account?notice=passkey_removed", http.StatusSeeOther)
	return nil
}

func (s *accountPages) regenerateRecoveryCodes(w http.ResponseWriter, r *http.Request) error {
	_, u, ok := s.requireFresh(w, r)
	if !ok {
		return nil
	}
	codes, err := s.issueRecoveryCodes(r, u.ID)
	if err != nil {
		return fmt.Errorf("recovery codes: %w", err)
	}
	s.Pages.Render(w, r, http.StatusOK, "recoverycodes", recoveryCodesPage{Codes: codes, Continue: "/account"})
	return nil
}

func (s *accountPages) revokeSession(w http.ResponseWriter, r *http.Request) error {
	sess, u, ok := s.accountPost(w, r)
	if !ok {
		return nil
	}
	id := r.PostForm.Get("id")
	err := s.Store.DeleteUserSession(r.Context(), u.ID, id)
	if errors.Is(err, identity.ErrNotFound) {
		s.renderAccount(w, r, http.StatusNotFound, sess, u, "", "account.problem.not_found")
		return nil
	}
	if err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	s.audit(r, identity.AuditSessionRevoked, u.ID, nil)
	if id == sess.ID {
		if err := s.Sessions.End(w, r); err != nil {
			return fmt.Errorf("end session: %w", err)
		}
		http.Redirect(w, r, "/login?notice=loggedout", http.StatusSeeOther)
		return nil
	}
	http.Redirect(w, r, "/account?notice=session_revoked", http.StatusSeeOther)
	return nil
}

func (s *accountPages) revokeAllSessions(w http.ResponseWriter, r *http.Request) error {
	_, u, ok := s.accountPost(w, r)
	if !ok {
		return nil
	}
	// "Sign out everywhere" also ends the tokens the sessions had given
	// to applications: a thief's refresh token is signed out too.
	ended, err := s.onCredentialEvent(r.Context(), u.ID, "", nil)
	if err != nil {
		return fmt.Errorf("revoke sessions: %w", err)
	}
	_ = s.Sessions.End(w, r)
	s.audit(r, identity.AuditSessionsRevoked, u.ID, map[string]string{"count": itoa(ended.Sessions), "tokens_revoked": itoa(ended.Tokens)})
	http.Redirect(w, r, "/login?notice=loggedout", http.StatusSeeOther)
	return nil
}

func (s *accountPages) logout(w http.ResponseWriter, r *http.Request) error {
	_, u, ok := s.accountPost(w, r)
	if !ok {
		return nil
	}
	if err := s.Sessions.End(w, r); err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	s.audit(r, identity.AuditLogout, u.ID, nil)
	http.Redirect(w, r, "/login?notice=loggedout", http.StatusSeeOther)
	return nil
}

// setLanguage keeps the switcher's choice in a cookie and goes back to the
// page, which must be a local path.
func (s *accountPages) setLanguage(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		s.badRequest(w, r)
		return nil
	}
	lang := r.PostForm.Get("lang")
	if s.Pages.Supports(lang) {
		http.SetCookie(w, s.Sessions.Cookie(i18n.CookieName, lang, 365*24*3600))
	}
	localpath.Redirect(w, r, localpath.Or(r.PostForm.Get("return"), "/login"))
	return nil
}

func (s *accountPages) showDevMail(w http.ResponseWriter, r *http.Request) error {
	s.Pages.Render(w, r, http.StatusOK, "devmail", s.DevMail.Messages())
	return nil
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
