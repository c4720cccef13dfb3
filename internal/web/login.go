package web

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/localpath"
	"github.com/portero-id/portero/internal/session"
	"github.com/portero-id/portero/internal/throttle"
)

type loginPage struct {
	Flow     string
	Username string
	Failed   bool
	// LockedMinutes > 0: too many failures; try again after that long.
	LockedMinutes int
	Signup        bool
	Reset         bool
	Passkeys      bool
	Notice        string
	// Challenge is a proof-of-work challenge the form must solve (its
	// network is under a credential-stuffing wave); "" when none.
	Challenge string
	// NeedWork: the last post came without a solved challenge.
	NeedWork bool
}

func (s *Site) loginData(flow, username string) loginPage {
	return loginPage{Flow: flow, Username: username, Signup: s.Opts.SignupEnabled && s.Opts.MailEnabled, Reset: s.Opts.MailEnabled, Passkeys: s.WebAuthn != nil}
}

func (s *Site) showLogin(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	hint := q.Get("login_hint")
	if len(hint) > 256 {
		hint = ""
	}
	page := s.loginData(flowParam(r), hint)
	page.Challenge = s.Stuffing.challenge(r)
	switch q.Get("notice") {
	case "verified", "reset", "loggedout", "reauth":
		page.Notice = "notice." + q.Get("notice")
	}
	s.Pages.Render(w, r, http.StatusOK, "login", page)
}

// minutes rounds a wait up to whole minutes for display.
func minutes(d time.Duration) int {
	m := int((d + time.Minute - 1) / time.Minute)
	return max(m, 1)
}

// throttled writes the "too many attempts" answer: 429 with Retry-After
// and the page the user was on.
func (s *Site) throttled(w http.ResponseWriter, r *http.Request, d throttle.Decision, page string, data func(int) any) {
	wait := max(d.RetryAfter, time.Second)
	w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
	s.Pages.Render(w, r, http.StatusTooManyRequests, page, data(minutes(wait)))
}

func (s *Site) submitLogin(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if err := r.ParseForm(); err != nil {
		s.badRequest(w, r)
		return
	}
	username := strings.TrimSpace(r.PostForm.Get("username"))
	password := r.PostForm.Get("password")
	flow := flowParam(r)
	page := s.loginData(flow, username)
	if username == "" || password == "" || len(username) > 256 || len(password) > 1024 {
		page.Failed = true
		s.Pages.Render(w, r, http.StatusUnauthorized, "login", page)
		return
	}
	if !s.Stuffing.proved(r) {
		// The network is under a stuffing wave: no guess is checked
		// without the work.
		page.NeedWork, page.Challenge = true, s.Stuffing.challenge(r)
		s.Pages.Render(w, r, http.StatusTooManyRequests, "login", page)
		return
	}
	// The user is looked up first so that the guesses are counted per
	// account, whichever login name (username or e-mail) they use.
	user, err := s.Store.UserByLogin(ctx, username)
	if err != nil && !errors.Is(err, identity.ErrNotFound) {
		s.serverError(w, r, "login lookup", err)
		return
	}
	acct, ip := throttle.UnknownLoginKey(username), throttleIP(r)
	if user != nil {
		acct = throttle.PasswordKey(user.ID)
	}
	d, err := s.Throttle.Check(ctx, acct, ip)
	if err != nil {
		// Fail closed: without the counters a guess would go unmetered.
		s.serverError(w, r, "throttle check", err)
		return
	}
	if !d.Allowed {
		s.throttled(w, r, d, "login", func(m int) any { page.LockedMinutes = m; return page })
		return
	}

	ok, rehash := false, false
	if user == nil || user.PasswordHash == "" {
		// Same work as a real check, so timing does not reveal accounts.
		s.Hasher.VerifyDummy(password)
	} else {
		var verr error
		rehash, verr = s.Hasher.Verify(user.PasswordHash, password)
		if verr != nil && !errors.Is(verr, identity.ErrPasswordMismatch) {
			s.Log.ErrorContext(ctx, "stored password hash unreadable", "user_id", user.ID, "err", verr)
		}
		ok = verr == nil && !user.Disabled
	}
	if !ok {
		userID := ""
		if user != nil {
			userID = user.ID
		}
		d, err := s.Throttle.Fail(ctx, acct, ip)
		if err != nil {
			s.serverError(w, r, "throttle fail", err)
			return
		}
		s.audit(r, identity.AuditLoginFailure, userID, map[string]string{"method": "password"})
		if s.Stuffing.failed(ctx, r) {
			s.audit(r, identity.AuditStuffingSuspected, "", map[string]string{"network": network(r)})
		}
		if d.JustLocked {
			s.audit(r, identity.AuditLockout, userID, map[string]string{"method": "password"})
		}
		page.Challenge = s.Stuffing.challenge(r) // for the next try
		if d.Locked {
			s.throttled(w, r, d, "login", func(m int) any { page.LockedMinutes = m; return page })
			return
		}
		page.Failed = true
		s.Pages.Render(w, r, http.StatusUnauthorized, "login", page)
		return
	}
	if err := s.Throttle.Success(ctx, acct, ip); err != nil {
		s.Log.WarnContext(ctx, "throttle reset", "err", err)
	}
	if rehash {
		// The cost parameters changed since this hash was made: upgrade it
		// now, while the password is at hand.
		if h, err := s.Hasher.Hash(password); err == nil {
			if err := s.Store.UpdatePasswordHash(ctx, user.ID, h); err != nil {
				s.Log.WarnContext(ctx, "password rehash", "user_id", user.ID, "err", err)
			}
		}
	}
	s.afterFirstFactor(w, r, user, []string{identity.AMRPassword}, flow)
}

// afterFirstFactor sends the user to the second factor they have, to the
// enrolment the policy requires, or signs them in.
func (s *Site) afterFirstFactor(w http.ResponseWriter, r *http.Request, user *identity.User, amr []string, flow string) {
	f, err := s.factorsOf(r.Context(), user.ID)
	if err != nil {
		s.serverError(w, r, "load factors", err)
		return
	}
	p := session.Pending{UserID: user.ID, AMR: amr, Flow: flow, AuthTime: s.Now().Unix()}
	switch {
	case f.any():
		s.toPending(w, r, p, string(stepSecondFactor))
	case s.Opts.MFA.Requires(user):
		s.toPending(w, r, p, string(stepEnroll))
	default:
		s.completeSignIn(w, r, user, amr, flow)
	}
}

func (s *Site) toPending(w http.ResponseWriter, r *http.Request, p session.Pending, path string) {
	if err := s.Sessions.SetPending(w, p); err != nil {
		s.serverError(w, r, "pending sign-in", err)
		return
	}
	localpath.Redirect(w, r, path+flowQuery(p.Flow))
}

// signInStep is the page a half-done sign-in is at.
type signInStep string

const (
	// stepSecondFactor: the account has a second factor; prove it.
	stepSecondFactor signInStep = "/login/mfa"
	// stepEnroll: the account has no second factor and one is due.
	stepEnroll signInStep = "/login/enroll"
	// stepReauth: a factor is to be enrolled, but the first factor is
	// older than the freshness window: sign in again first.
	stepReauth signInStep = "/login"
)

// stepOf decides which step a half-done sign-in is at from what is true
// now, not from what a cookie or the page posted says: an account with a
// second factor must prove it (a password alone never enrols a factor on
// an account that has one), and an account without one may enrol one only
// while its first factor is fresh, the rule the account page keeps too.
func (s *Site) stepOf(p *session.Pending, f factors) signInStep {
	switch {
	case f.any():
		return stepSecondFactor
	case s.fresh(time.Unix(p.AuthTime, 0)):
		return stepEnroll
	default:
		return stepReauth
	}
}

// atStep opens every step of the sign-in state machine, GET and POST
// alike: it loads the half-done sign-in, its user and their factors once,
// and when the flow is at another step than want it sends the browser
// there (303, so a POST is not replayed) and the handler stops.
func (s *Site) atStep(w http.ResponseWriter, r *http.Request, want signInStep) (*session.Pending, *identity.User, factors, bool) {
	p, u, ok := s.pending(w, r)
	if !ok {
		return nil, nil, factors{}, false
	}
	f, err := s.factorsOf(r.Context(), u.ID)
	if err != nil {
		s.serverError(w, r, "load factors", err)
		return nil, nil, factors{}, false
	}
	switch at := s.stepOf(p, f); {
	case at == want:
		return p, u, f, true
	case at == stepReauth:
		s.Sessions.ClearPending(w)
		target := reauthURL(u)
		if p.Flow != "" {
			target += "&flow=" + url.QueryEscape(p.Flow)
		}
		localpath.Redirect(w, r, target)
	default:
		localpath.Redirect(w, r, string(at)+flowQuery(p.Flow))
	}
	return nil, nil, factors{}, false
}

// pending returns the half-done sign-in: the pending cookie, or, for a
// step-up the dispatcher asked for, the signed-in session as the first
// factor (with that session's sign-in time). nil means the browser must
// sign in first (already answered).
func (s *Site) pending(w http.ResponseWriter, r *http.Request) (*session.Pending, *identity.User, bool) {
	flow := flowParam(r)
	p, err := s.Sessions.Pending(r)
	if err != nil {
		sess, u, err := s.signedIn(r)
		if err != nil {
			s.serverError(w, r, "load session", err)
			return nil, nil, false
		}
		if sess == nil {
			localpath.Redirect(w, r, "/login"+flowQuery(flow))
			return nil, nil, false
		}
		p = &session.Pending{UserID: u.ID, AMR: sess.AMR, Flow: flow, AuthTime: sess.AuthTime.Unix()}
		if err := s.Sessions.SetPending(w, *p); err != nil {
			s.serverError(w, r, "pending sign-in", err)
			return nil, nil, false
		}
		return p, u, true
	}
	u, err := s.Store.UserByID(r.Context(), p.UserID)
	if errors.Is(err, identity.ErrNotFound) || (err == nil && u.Disabled) {
		s.Sessions.ClearPending(w)
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return nil, nil, false
	}
	if err != nil {
		s.serverError(w, r, "load user", err)
		return nil, nil, false
	}
	if flow != "" {
		p.Flow = flow
	}
	return p, u, true
}

type mfaPage struct {
	Flow          string
	TOTP          bool
	Passkey       bool
	Recovery      bool
	Failed        bool
	LockedMinutes int
}

func (s *Site) showMFA(w http.ResponseWriter, r *http.Request) {
	p, _, f, ok := s.atStep(w, r, stepSecondFactor)
	if !ok {
		return
	}
	s.Pages.Render(w, r, http.StatusOK, "mfa", mfaPage{Flow: p.Flow, TOTP: f.TOTP, Passkey: len(f.Passkeys) > 0, Recovery: f.Recovery > 0})
}

func (s *Site) submitMFA(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if err := r.ParseForm(); err != nil {
		s.badRequest(w, r)
		return
	}
	p, u, f, ok := s.atStep(w, r, stepSecondFactor)
	if !ok {
		return
	}
	page := mfaPage{Flow: p.Flow, TOTP: f.TOTP, Passkey: len(f.Passkeys) > 0, Recovery: f.Recovery > 0}
	acct, ip := throttle.MFAKey(u.ID), throttleIP(r)
	d, err := s.Throttle.Check(ctx, acct, ip)
	if err != nil {
		s.serverError(w, r, "throttle check", err)
		return
	}
	if !d.Allowed {
		s.throttled(w, r, d, "mfa", func(m int) any { page.LockedMinutes = m; return page })
		return
	}
	code := r.PostForm.Get("code")
	method := r.PostForm.Get("method")
	var passed bool
	switch method {
	case "totp":
		passed, err = s.checkTOTP(r, u.ID, code)
	case "recovery":
		passed, err = s.useRecoveryCode(r, u.ID, code)
	default:
		s.badRequest(w, r)
		return
	}
	if err != nil {
		s.serverError(w, r, "check second factor", err)
		return
	}
	if !passed {
		d, err := s.Throttle.Fail(ctx, acct, ip)
		if err != nil {
			s.serverError(w, r, "throttle fail", err)
			return
		}
		s.audit(r, identity.AuditMFAFailure, u.ID, map[string]string{"method": method})
		if d.JustLocked {
			s.audit(r, identity.AuditLockout, u.ID, map[string]string{"method": method})
		}
		if d.Locked {
			s.throttled(w, r, d, "mfa", func(m int) any { page.LockedMinutes = m; return page })
			return
		}
		page.Failed = true
		s.Pages.Render(w, r, http.StatusUnauthorized, "mfa", page)
		return
	}
	if err := s.Throttle.Success(ctx, acct, ip); err != nil {
		s.Log.WarnContext(ctx, "throttle reset", "err", err)
	}
	amr := append(append([]string{}, p.AMR...), identity.AMROTP)
	if method != "recovery" {
		s.completeSignIn(w, r, u, amr, p.Flow)
		return
	}
	// A recovery code was spent: sign in, then say so and how many are
	// left, instead of redirecting straight on.
	left, err := s.Store.UnusedRecoveryCodes(ctx, u.ID)
	if err != nil {
		s.serverError(w, r, "count recovery codes", err)
		return
	}
	if err := s.startSession(w, r, u, amr, nil); err != nil {
		s.serverError(w, r, "start session", err)
		return
	}
	s.Pages.Render(w, r, http.StatusOK, "recoveryused", struct {
		Left     int
		Continue string
	}{left, continueURL(p.Flow)})
}

func continueURL(flow string) string {
	if flow == "" {
		return "/account"
	}
	return "/oauth2/auth?flow=" + url.QueryEscape(flow)
}

// checkTOTP verifies a code of the user's confirmed authenticator and
// spends its time step.
func (s *Site) checkTOTP(r *http.Request, userID, code string) (bool, error) {
	cred, err := s.Store.TOTPByUser(r.Context(), userID)
	if errors.Is(err, identity.ErrNotFound) {
		return false, nil
	}
	if err != nil || cred.ConfirmedAt == nil {
		return false, err
	}
	secret, err := s.TOTPSeal.Open(cred.EncryptedSecret, []byte(userID))
	if err != nil {
		return false, err
	}
	step, ok := identity.TOTPStep(string(secret), code, s.Now())
	if !ok {
		return false, nil
	}
	// The store accepts a step only once: a code seen by a shoulder-surfer
	// or a phishing proxy is dead after its first use.
	return s.Store.UseTOTPStep(r.Context(), userID, step)
}

func (s *Site) useRecoveryCode(r *http.Request, userID, code string) (bool, error) {
	n, err := identity.NormalizeRecoveryCode(code)
	if err != nil {
		return false, nil
	}
	// Codes made before a system-secret rotation carry the old key's
	// digest: try the current key first, then the previous ones.
	used := false
	for _, key := range s.RecoveryKeys {
		if used, err = s.Store.UseRecoveryCode(r.Context(), userID, identity.HashRecoveryCode(key, n), s.Now()); err != nil || used {
			break
		}
	}
	if err != nil || !used {
		return false, err
	}
	left, err := s.Store.UnusedRecoveryCodes(r.Context(), userID)
	if err != nil {
		return true, err
	}
	s.audit(r, identity.AuditRecoveryCodeUsed, userID, map[string]string{"remaining": strconv.Itoa(left)})
	return true, nil
}
