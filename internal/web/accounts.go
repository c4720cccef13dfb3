package web

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"net/url"
	"strings"
	"time"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/localpath"
	mailer "github.com/portero-id/portero/internal/mail"
)

// Sign-up, e-mail verification and password reset. None of them tells
// whether an account exists: each answers the same page whatever the
// input, and does comparable work (an argon2id hash) either way; what
// differs is only the e-mail that goes to the address given.

type signupPage struct {
	Flow     string
	Username string
	Email    string
	// Problem is the message key of what to fix, if any.
	Problem   string
	MinLength int
}

func (s *credentials) minLength() int {
	if s.Policy.MinLength > 0 {
		return s.Policy.MinLength
	}
	return identity.DefaultPasswordMinLength
}

func (s *accountsPages) signupOpen() bool { return s.Opts.SignupEnabled && s.Opts.MailEnabled }

func (s *accountsPages) showSignup(w http.ResponseWriter, r *http.Request) error {
	if !s.signupOpen() {
		s.Pages.Error(w, r, http.StatusNotFound, "not_found", "error.signup_closed")
		return nil
	}
	s.Pages.Render(w, r, http.StatusOK, "signup", signupPage{Flow: flowParam(r), MinLength: s.minLength()})
	return nil
}

// usernameOK allows what is safe to show and type: letters, digits and
// . _ - , 3 to 64 characters.
func usernameOK(u string) bool {
	if len(u) < 3 || len(u) > 64 {
		return false
	}
	for _, r := range u {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

func passwordProblem(err error) string {
	switch {
	case errors.Is(err, identity.ErrPasswordTooShort):
		return "password.too_short"
	case errors.Is(err, identity.ErrPasswordTooLong):
		return "password.too_long"
	case errors.Is(err, identity.ErrPasswordCommon):
		return "password.common"
	case errors.Is(err, identity.ErrPasswordMatchesIdentity):
		return "password.matches_identity"
	}
	return "password.invalid"
}

// signupProblem is the message key of what is wrong with a sign-up form,
// or "".
func (s *accountsPages) signupProblem(username, email, password string) string {
	addr, err := mail.ParseAddress(email)
	switch {
	case !usernameOK(username):
		return "signup.bad_username"
	case err != nil || addr.Address != email || len(email) > 254:
		return "signup.bad_email"
	}
	if err := s.Policy.Check(password, username, email); err != nil {
		return passwordProblem(err)
	}
	return ""
}

// meterSignup counts each sign-up against the address like a failure, so
// one address cannot mint accounts (or mail) without limit; false means
// it has answered.
func (s *accountsPages) meterSignup(w http.ResponseWriter, r *http.Request, page signupPage) bool {
	ctx := r.Context()
	acct, ip := "signup:"+throttleIP(r), throttleIP(r)
	if d, err := s.Throttle.Check(ctx, acct, ip); err != nil {
		s.serverError(w, r, "throttle check", err)
		return false
	} else if !d.Allowed {
		s.throttled(w, r, d.RetryAfter, "signup", func(int) any { page.Problem = "signup.slow_down"; return page })
		return false
	}
	if _, err := s.Throttle.Fail(ctx, acct, ip); err != nil {
		s.serverError(w, r, "throttle", err)
		return false
	}
	return true
}

func (s *accountsPages) submitSignup(w http.ResponseWriter, r *http.Request) error {
	if !s.signupOpen() {
		s.Pages.Error(w, r, http.StatusNotFound, "not_found", "error.signup_closed")
		return nil
	}
	if err := r.ParseForm(); err != nil {
		s.badRequest(w, r)
		return nil
	}
	ctx := r.Context()
	username := strings.TrimSpace(r.PostForm.Get("username"))
	email := strings.TrimSpace(r.PostForm.Get("email"))
	password := r.PostForm.Get("password")
	page := signupPage{Flow: flowParam(r), Username: username, Email: email, MinLength: s.minLength()}
	if page.Problem = s.signupProblem(username, email, password); page.Problem != "" {
		// Input errors are about the form, not about existing accounts.
		s.Pages.Render(w, r, http.StatusBadRequest, "signup", page)
		return nil
	}
	if !s.meterSignup(w, r, page) {
		return nil
	}
	hash, err := s.Hasher.Hash(password)
	if err != nil {
		return fmt.Errorf("hash password: %w", err)
	}
	u := &identity.User{Username: username, Email: email, PasswordHash: hash, Roles: s.Opts.DefaultRoles}
	err = s.Store.CreateUser(ctx, u)
	switch {
	case errors.Is(err, identity.ErrConflict):
		s.inBackground(r, "send sign-up notice", func(r *http.Request) error {
			return s.signupConflict(r, username, email)
		})
	case err != nil:
		return fmt.Errorf("create user: %w", err)
	default:
		s.audit(r, identity.AuditSignup, u.ID, nil)
		s.inBackground(r, "send verification mail", func(r *http.Request) error {
			return s.sendVerification(r, u, page.Flow)
		})
	}
	s.Pages.Render(w, r, http.StatusOK, "checkmail", nil)
	return nil
}

// signupConflict tells the owner of the address what happened, without
// telling the person at the form.
func (s *accountsPages) signupConflict(r *http.Request, username, email string) error {
	ctx := r.Context()
	lang := s.Pages.Lang(r)
	msg := mailer.Message{To: email}
	if existing, err := s.Store.UserByLogin(ctx, email); err == nil && strings.EqualFold(existing.Email, email) {
		msg.Subject = s.Pages.T(lang, "mail.exists.subject")
		msg.Text = s.Pages.T(lang, "mail.exists.text", s.Opts.Issuer+"/login", s.Opts.Issuer+"/password/forgot")
	} else {
		msg.Subject = s.Pages.T(lang, "mail.username_taken.subject")
		msg.Text = s.Pages.T(lang, "mail.username_taken.text", username, s.Opts.Issuer+"/signup")
	}
	return s.Mail.Send(ctx, msg)
}

// newLinkToken stores a single-use token for an e-mailed link and returns
// the value for the URL (only its digest is stored).
func (s *credentials) newLinkToken(ctx context.Context, purpose, userID, data string, lifespan time.Duration) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	value := base64.RawURLEncoding.EncodeToString(b)
	now := s.Now()
	err := s.Store.CreateOneTimeToken(ctx, &identity.OneTimeToken{
		ID: tokenDigest(value), Purpose: purpose, UserID: userID, Data: data, CreatedAt: now, ExpiresAt: now.Add(lifespan),
	})
	return value, err
}

func (s *credentials) sendVerification(r *http.Request, u *identity.User, flow string) error {
	ctx := r.Context()
	if err := s.Store.DeleteUserOneTimeTokens(ctx, u.ID, identity.PurposeVerifyEmail); err != nil {
		return err
	}
	token, err := s.newLinkToken(ctx, identity.PurposeVerifyEmail, u.ID, u.Email+"\n"+flow, s.Opts.VerifyEmailLifespan)
	if err != nil {
		return err
	}
	lang := s.Pages.Lang(r)
	link := s.Opts.Issuer + "/verify-email?token=" + url.QueryEscape(token)
	return s.Mail.Send(ctx, mailer.Message{
		To:      u.Email,
		Subject: s.Pages.T(lang, "mail.verify.subject"),
		Text:    s.Pages.T(lang, "mail.verify.text", u.Username, link, int(s.Opts.VerifyEmailLifespan.Hours())),
	})
}

type tokenPage struct {
	Token     string
	Problem   string
	MinLength int
}

// showVerifyEmail asks for a click: a GET must not spend the token, or a
// mail scanner fetching the link would verify (or, for reset, burn) it.
func (s *accountsPages) showVerifyEmail(w http.ResponseWriter, r *http.Request) error {
	s.Pages.Render(w, r, http.StatusOK, "verifyemail", tokenPage{Token: truncate(r.URL.Query().Get("token"), 128)})
	return nil
}

func (s *accountsPages) submitVerifyEmail(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		s.badRequest(w, r)
		return nil
	}
	ctx := r.Context()
	t, u, ok, err := s.spendLink(w, r, identity.PurposeVerifyEmail, r.PostForm.Get("token"))
	if !ok {
		return err
	}
	email, flow, _ := strings.Cut(t.Data, "\n")
	if !strings.EqualFold(u.Email, email) {
		// The address changed since the link was sent.
		s.Pages.Error(w, r, http.StatusBadRequest, "invalid_token", "error.link_expired")
		return nil
	}
	if err := s.Store.SetEmailVerified(ctx, u.ID, s.Now()); err != nil {
		return fmt.Errorf("set e-mail verified: %w", err)
	}
	s.audit(r, identity.AuditEmailVerified, u.ID, nil)
	target := "/login?notice=verified"
	if flowPattern.MatchString(flow) {
		target += "&flow=" + flow
	}
	localpath.Redirect(w, r, target)
	return nil
}

func (s *accountsPages) showForgot(w http.ResponseWriter, r *http.Request) error {
	if !s.Opts.MailEnabled {
		s.Pages.Error(w, r, http.StatusNotFound, "not_found", "error.reset_unavailable")
		return nil
	}
	s.Pages.Render(w, r, http.StatusOK, "forgot", nil)
	return nil
}

func (s *accountsPages) submitForgot(w http.ResponseWriter, r *http.Request) error {
	if !s.Opts.MailEnabled {
		s.Pages.Error(w, r, http.StatusNotFound, "not_found", "error.reset_unavailable")
		return nil
	}
	if err := r.ParseForm(); err != nil {
		s.badRequest(w, r)
		return nil
	}
	ctx := r.Context()
	login := strings.TrimSpace(r.PostForm.Get("login"))
	if login == "" || len(login) > 256 {
		s.Pages.Render(w, r, http.StatusOK, "resetsent", nil)
		return nil
	}
	// Throttled per address typed and per IP: a flood of reset mail is
	// harassment even when nobody can use the links.
	acct, ip := "reset:"+strings.ToLower(login), throttleIP(r)
	if d, err := s.Throttle.Check(ctx, acct, ip); err != nil {
		return fmt.Errorf("throttle check: %w", err)
	} else if !d.Allowed {
		s.Pages.Render(w, r, http.StatusOK, "resetsent", nil)
		return nil
	}
	if _, err := s.Throttle.Fail(ctx, acct, ip); err != nil {
		return fmt.Errorf("throttle: %w", err)
	}
	u, err := s.Store.UserByLogin(ctx, login)
	switch {
	case errors.Is(err, identity.ErrNotFound) || (err == nil && (u.Email == "" || u.Disabled)):
		// Nothing to send; the answer is the same.
	case err != nil:
		return fmt.Errorf("reset lookup: %w", err)
	default:
		s.inBackground(r, "send reset mail", func(r *http.Request) error { return s.sendReset(r, u) })
	}
	s.Pages.Render(w, r, http.StatusOK, "resetsent", nil)
	return nil
}

func (s *accountsPages) sendReset(r *http.Request, u *identity.User) error {
	if err := s.mailReset(r.Context(), u, s.Pages.Lang(r)); err != nil {
		return err
	}
	s.audit(r, identity.AuditPasswordResetSent, u.ID, nil)
	return nil
}

// mailReset mails u a reset link in lang. One live link at a time: a
// new one voids the older ones.
func (s *credentials) mailReset(ctx context.Context, u *identity.User, lang string) error {
	if err := s.Store.DeleteUserOneTimeTokens(ctx, u.ID, identity.PurposeResetPassword); err != nil {
		return err
	}
	token, err := s.newLinkToken(ctx, identity.PurposeResetPassword, u.ID, "", s.Opts.ResetLifespan)
	if err != nil {
		return err
	}
	link := s.Opts.Issuer + "/password/reset?token=" + url.QueryEscape(token)
	return s.Mail.Send(ctx, mailer.Message{
		To:      u.Email,
		Subject: s.Pages.T(lang, "mail.reset.subject"),
		Text:    s.Pages.T(lang, "mail.reset.text", u.Username, link, int(s.Opts.ResetLifespan.Minutes())),
	})
}

// replacePassword stores a new password and ends whatever the old one
// had opened (identity.EndAccess: every session but keep, "" for all, and
// every grant to every client) in one transaction, then tells the clients
// over the back channel and voids every live reset link.
func (s *credentials) replacePassword(ctx context.Context, u *identity.User, password, keep string) error {
	hash, err := s.Hasher.Hash(password)
	if err != nil {
		return err
	}
	_, err = s.onCredentialEvent(ctx, u.ID, keep, func(ctx context.Context) error {
		return s.Store.UpdatePasswordHash(ctx, u.ID, hash)
	})
	return err
}

// onCredentialEvent makes a change to the user's credentials and ends
// their access (identity.EndAccess) in one transaction, then notifies the
// clients that held their tokens. Every credential event on the pages
// goes through here; change may be nil ("sign out everywhere").
func (s *credentials) onCredentialEvent(ctx context.Context, userID, keepSession string, change func(ctx context.Context) error) (identity.AccessEnded, error) {
	var ended identity.AccessEnded
	err := s.Store.InTx(ctx, func(ctx context.Context) error {
		if change != nil {
			if err := change(ctx); err != nil {
				return err
			}
		}
		var err error
		ended, err = identity.EndAccess(ctx, s.Store, userID, keepSession)
		return err
	})
	if err != nil {
		return ended, err
	}
	if len(ended.Clients) > 0 && s.Logout != nil {
		s.Logout.NotifyLogout(context.WithoutCancel(ctx), userID, ended.Clients)
	}
	if err := s.Store.DeleteUserOneTimeTokens(ctx, userID, identity.PurposeResetPassword); err != nil {
		s.Log.WarnContext(ctx, "drop reset tokens", "err", err)
	}
	return ended, nil
}

func (s *accountsPages) showReset(w http.ResponseWriter, r *http.Request) error {
	s.Pages.Render(w, r, http.StatusOK, "reset", tokenPage{Token: truncate(r.URL.Query().Get("token"), 128), MinLength: s.minLength()})
	return nil
}

func (s *accountsPages) submitReset(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		s.badRequest(w, r)
		return nil
	}
	ctx := r.Context()
	value := r.PostForm.Get("token")
	password := r.PostForm.Get("password")
	t, u, ok, err := s.spendLink(w, r, identity.PurposeResetPassword, value)
	if !ok {
		return err
	}
	if err := s.Policy.Check(password, u.Username, u.Email); err != nil {
		// Put the link back: a rejected password must not burn it.
		if rerr := s.Store.CreateOneTimeToken(ctx, t); rerr != nil {
			s.Log.WarnContext(ctx, "restore reset token", "err", rerr)
		}
		s.Pages.Render(w, r, http.StatusBadRequest, "reset", tokenPage{Token: value, Problem: passwordProblem(err), MinLength: s.minLength()})
		return nil
	}
	if err := s.replacePassword(ctx, u, password, ""); err != nil {
		return fmt.Errorf("reset password: %w", err)
	}
	_ = s.Throttle.Success(ctx, identity.PasswordGuardKey(u.ID), throttleIP(r))
	s.audit(r, identity.AuditPasswordReset, u.ID, nil)
	http.Redirect(w, r, "/login?notice=reset", http.StatusSeeOther)
	return nil
}
