package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"net/url"
	"strings"

	"github.com/portero-id/portero/identity"
	mailer "github.com/portero-id/portero/internal/mail"
)

// Changing one's e-mail address: the current password proves it is the
// owner asking (a stolen session must not move the account's recovery
// address), a link to the new address proves the owner holds it, and the
// old address is told once the change is made. Until the link is used
// nothing changes; an address another account has gets a notice instead
// of a link, so the form does not tell who has an account.

// requestEmailChange takes the new address and the current password and
// mails the link.
func (s *accountPages) requestEmailChange(w http.ResponseWriter, r *http.Request) error {
	sess, u, ok := s.accountPost(w, r)
	if !ok {
		return nil
	}
	if !s.Opts.MailEnabled {
		s.renderAccount(w, r, http.StatusConflict, sess, u, "", "account.problem.no_mail")
		return nil
	}
	email := strings.TrimSpace(r.PostForm.Get("email"))
	if addr, err := mail.ParseAddress(email); err != nil || addr.Address != email || len(email) > 254 {
		s.renderAccount(w, r, http.StatusBadRequest, sess, u, "", "signup.bad_email")
		return nil
	}
	if strings.EqualFold(email, u.Email) {
		s.renderAccount(w, r, http.StatusBadRequest, sess, u, "", "account.problem.same_email")
		return nil
	}
	if ok, err := s.reconfirm(w, r, sess, u, "change_email"); !ok {
		return err
	}
	lang := s.Pages.Lang(r)
	s.inBackground(r, "send e-mail change link", func(r *http.Request) error { return s.mailEmailChange(r, u, email, lang) })
	http.Redirect(w, r, "/account?notice=email_change_sent", http.StatusSeeOther)
	return nil
}

// mailEmailChange sends the link to the new address, or, when another
// account has it, a notice that says so to its owner.
func (s *accountPages) mailEmailChange(r *http.Request, u *identity.User, email, lang string) error {
	ctx := r.Context()
	if other, err := s.Store.UserByLogin(ctx, email); err == nil && other.ID != u.ID {
		return s.Mail.Send(ctx, mailer.Message{To: email, Subject: s.Pages.T(lang, "mail.exists.subject"),
			Text: s.Pages.T(lang, "mail.exists.text", s.Opts.Issuer+"/login", s.Opts.Issuer+"/password/forgot")})
	}
	if err := s.Store.DeleteUserOneTimeTokens(ctx, u.ID, identity.PurposeChangeEmail); err != nil {
		return err
	}
	token, err := s.newLinkToken(ctx, identity.PurposeChangeEmail, u.ID, email, s.Opts.VerifyEmailLifespan)
	if err != nil {
		return err
	}
	link := s.Opts.Issuer + "/account/email/confirm?token=" + url.QueryEscape(token)
	return s.Mail.Send(ctx, mailer.Message{To: email, Subject: s.Pages.T(lang, "mail.change_email.subject"),
		Text: s.Pages.T(lang, "mail.change_email.text", u.Username, link, int(s.Opts.VerifyEmailLifespan.Hours()))})
}

// showEmailChange shows a button: a GET never spends the link (mail
// scanners follow links).
func (s *accountPages) showEmailChange(w http.ResponseWriter, r *http.Request) error {
	s.Pages.Render(w, r, http.StatusOK, "confirmemail", tokenPage{Token: truncate(r.URL.Query().Get("token"), 128)})
	return nil
}

// confirmEmailChange spends the link, changes the address (verified: the
// link proved it) and tells the old address.
func (s *accountPages) confirmEmailChange(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		s.badRequest(w, r)
		return nil
	}
	ctx := r.Context()
	t, u, ok, err := s.spendLink(w, r, identity.PurposeChangeEmail, r.PostForm.Get("token"))
	if !ok {
		return err
	}
	if u.Disabled {
		s.Pages.Error(w, r, http.StatusBadRequest, "invalid_token", "error.link_expired")
		return nil
	}
	old := u.Email
	err = s.Store.ChangeEmail(ctx, u.ID, t.Data, s.Now())
	if errors.Is(err, identity.ErrConflict) {
		// Another account took the address since the link was sent.
		s.Pages.Error(w, r, http.StatusConflict, "conflict", "error.email_taken")
		return nil
	}
	if err != nil {
		return fmt.Errorf("change e-mail: %w", err)
	}
	s.audit(r, identity.AuditEmailChanged, u.ID, nil)
	lang := s.Pages.Lang(r)
	if old != "" {
		s.inBackground(r, "tell the old address", func(r *http.Request) error {
			return s.Mail.Send(r.Context(), mailer.Message{To: old, Subject: s.Pages.T(lang, "mail.email_changed.subject"),
				Text: s.Pages.T(lang, "mail.email_changed.text", u.Username, s.Opts.Issuer+"/account")})
		})
	}
	http.Redirect(w, r, "/account?notice=email_changed", http.StatusSeeOther)
	return nil
}
