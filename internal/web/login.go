package web

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/localpath"
	"github.com/portero-id/portero/internal/session"
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

func (s *signInPages) loginData(flow, username string) loginPage {
	return loginPage{Flow: flow, Username: username, Signup: s.Opts.SignupEnabled && s.Opts.MailEnabled, Reset: s.Opts.MailEnabled, Passkeys: s.WebAuthn != nil}
}

func (s *signInPages) showLogin(w http.ResponseWriter, r *http.Request) error {
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
	return nil
}

// minutes rounds a wait up to whole minutes for display.
func minutes(d time.Duration) int {
	m := int((d + time.Minute - 1) / time.Minute)
	return max(m, 1)
}

// throttled writes the "too many attempts" answer: 429 with Retry-After
// and the page the user was on.
func (s *base) throttled(w http.ResponseWriter, r *http.Request, wait time.Duration, page string, data func(int) any) {
	wait = max(wait, time.Second)
	w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
	s.Pages.Render(w, r, http.StatusTooManyRequests, page, data(minutes(wait)))
}

func (s *signInPages) submitLogin(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		s.badRequest(w, r)
		return nil
	}
	username := strings.TrimSpace(r.PostForm.Get("username"))
	password := r.PostForm.Get("password")
	flow := flowParam(r)
	page := s.loginData(flow, username)
	if username == "" || password == "" || len(username) > 256 || len(password) > 1024 {
		page.Failed = true
		s.Pages.Render(w, r, http.StatusUnauthorized, "login", page)
		return nil
	}
	if !s.Stuffing.proved(r) {
		// The network is under a stuffing wave: no guess is checked
		// without the work.
		page.NeedWork, page.Challenge = true, s.Stuffing.challenge(r)
		s.Pages.Render(w, r, http.StatusTooManyRequests, "login", page)
		return nil
	}
	c, err := s.SignIn.Password(r.Context(), username, password, throttleIP(r))
	if err != nil {
		// Fail closed: without the counters a guess would go unmetered.
		return fmt.Errorf("password check: %w", err)
	}
	if !c.Passed {
		if !c.Refused {
			s.auditFailure(r, c, "password", nil)
			if s.Stuffing.failed(r.Context(), r) {
				s.audit(r, identity.AuditStuffingSuspected, "", map[string]string{"network": network(r)})
			}
			page.Challenge = s.Stuffing.challenge(r) // for the next try
		}
		s.refused(w, r, c, "login", func(m int) any { page.LockedMinutes = m; return page }, func() any { page.Failed = true; return page })
		return nil
	}
	s.afterFirstFactor(w, r, c.User, []string{identity.AMRPassword}, flow)
	return nil
}

// auditFailure records a failed credential check, and the lockout it
// caused.
func (s *base) auditFailure(r *http.Request, c identity.Check, method string, details map[string]string) {
	userID := ""
	if c.User != nil {
		userID = c.User.ID
	}
	d := map[string]string{"method": method}
	maps.Copy(d, details)
	s.audit(r, identity.AuditLoginFailure, userID, d)
	if c.JustLocked {
		s.audit(r, identity.AuditLockout, userID, map[string]string{"method": method})
	}
}

// refused answers a check that did not pass on page: 429 with the wait
// while the guard refuses, else 401 with the page failed() makes.
func (s *base) refused(w http.ResponseWriter, r *http.Request, c identity.Check, page string, locked func(int) any, failed func() any) {
	if c.Refused || c.Locked {
		s.throttled(w, r, c.Wait, page, locked)
		return
	}
	s.Pages.Render(w, r, http.StatusUnauthorized, page, failed())
}

// afterFirstFactor sends the user to the second factor they have, to the
// enrolment the policy requires, or signs them in.
func (s *signInPages) afterFirstFactor(w http.ResponseWriter, r *http.Request, user *identity.User, amr []string, flow string) {
	f, err := s.SignIn.Factors(r.Context(), user.ID)
	if err != nil {
		s.serverError(w, r, "load factors", err)
		return
	}
	p := session.Pending{UserID: user.ID, AMR: amr, Flow: flow, AuthTime: s.Now().Unix()}
	switch s.SignIn.AfterFirstFactor(user, f) {
	case identity.SignInSecondFactor:
		s.toPending(w, r, p, pathSecondFactor)
	case identity.SignInEnroll:
		s.toPending(w, r, p, pathEnroll)
	default:
		s.completeSignIn(w, r, user, amr, flow)
	}
}

func (s *signInPages) toPending(w http.ResponseWriter, r *http.Request, p session.Pending, path string) {
	if err := s.Sessions.SetPending(w, p); err != nil {
		s.serverError(w, r, "pending sign-in", err)
		return
	}
	localpath.Redirect(w, r, path+flowQuery(p.Flow))
}

// The pages of a half-done sign-in's steps.
const (
	pathSecondFactor = "/login/mfa"
	pathEnroll       = "/login/enroll"
)

// atStep opens every step of the sign-in state machine, GET and POST
// alike: it loads the half-done sign-in, its user and their factors once,
// and when the flow is at another step than want it sends the browser
// there (303, so a POST is not replayed) and the handler stops.
func (s *signInPages) atStep(w http.ResponseWriter, r *http.Request, want identity.SignInStep) (*session.Pending, *identity.User, identity.Factors, bool) {
	p, u, ok := s.pending(w, r)
	if !ok {
		return nil, nil, identity.Factors{}, false
	}
	f, err := s.SignIn.Factors(r.Context(), u.ID)
	if err != nil {
		s.serverError(w, r, "load factors", err)
		return nil, nil, identity.Factors{}, false
	}
	switch at := s.SignIn.StepOf(time.Unix(p.AuthTime, 0), f); at {
	case want:
		return p, u, f, true
	case identity.SignInReauth:
		s.Sessions.ClearPending(w)
		target := reauthURL(u)
		if p.Flow != "" {
			target += "&flow=" + url.QueryEscape(p.Flow)
		}
		localpath.Redirect(w, r, target)
	case identity.SignInEnroll:
		localpath.Redirect(w, r, pathEnroll+flowQuery(p.Flow))
	default:
		localpath.Redirect(w, r, pathSecondFactor+flowQuery(p.Flow))
	}
	return nil, nil, identity.Factors{}, false
}

// pending returns the half-done sign-in: the pending cookie, or, for a
// step-up the dispatcher asked for, the signed-in session as the first
// factor (with that session's sign-in time). nil means the browser must
// sign in first (already answered).
func (s *signInPages) pending(w http.ResponseWriter, r *http.Request) (*session.Pending, *identity.User, bool) {
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

func mfaData(flow string, f identity.Factors) mfaPage {
	return mfaPage{Flow: flow, TOTP: f.TOTP, Passkey: len(f.Passkeys) > 0, Recovery: f.Recovery > 0}
}

func (s *signInPages) showMFA(w http.ResponseWriter, r *http.Request) error {
	p, _, f, ok := s.atStep(w, r, identity.SignInSecondFactor)
	if !ok {
		return nil
	}
	s.Pages.Render(w, r, http.StatusOK, "mfa", mfaData(p.Flow, f))
	return nil
}

func (s *signInPages) submitMFA(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		s.badRequest(w, r)
		return nil
	}
	p, u, f, ok := s.atStep(w, r, identity.SignInSecondFactor)
	if !ok {
		return nil
	}
	page := mfaData(p.Flow, f)
	method := r.PostForm.Get("method")
	c, err := s.SignIn.SecondFactor(r.Context(), u, method, r.PostForm.Get("code"), throttleIP(r))
	if identity.ErrorKind(err) == identity.KindInvalid {
		s.badRequest(w, r)
		return nil
	}
	if err != nil {
		return fmt.Errorf("check second factor: %w", err)
	}
	if !c.Passed {
		if !c.Refused {
			s.audit(r, identity.AuditMFAFailure, u.ID, map[string]string{"method": method})
			if c.JustLocked {
				s.audit(r, identity.AuditLockout, u.ID, map[string]string{"method": method})
			}
		}
		s.refused(w, r, c, "mfa", func(m int) any { page.LockedMinutes = m; return page }, func() any { page.Failed = true; return page })
		return nil
	}
	amr := append(slices.Clone(p.AMR), identity.AMROTP)
	if method != identity.MethodRecovery {
		s.completeSignIn(w, r, u, amr, p.Flow)
		return nil
	}
	// A recovery code was spent: sign in, then say so and how many are
	// left, instead of redirecting straight on.
	s.audit(r, identity.AuditRecoveryCodeUsed, u.ID, map[string]string{"remaining": strconv.Itoa(c.RecoveryLeft)})
	if err := s.startSession(w, r, u, amr, nil); err != nil {
		return fmt.Errorf("start session: %w", err)
	}
	s.Pages.Render(w, r, http.StatusOK, "recoveryused", struct {
		Left     int
		Continue string
	}{c.RecoveryLeft, continueURL(p.Flow)})
	return nil
}

func continueURL(flow string) string {
	if flow == "" {
		return "/account"
	}
	return "/oauth2/auth?flow=" + url.QueryEscape(flow)
}
