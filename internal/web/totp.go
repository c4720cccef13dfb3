package web

import (
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/localpath"
)

type totpSetupPage struct {
	Flow   string
	Action string // where the confirmation form posts
	Secret string
	// QR is a data: URL of the PNG (allowed by the CSP's img-src data:).
	QR     template.URL
	Failed bool
}

// newTOTPEnrollment stores a fresh, unconfirmed secret for the user and
// returns the page that shows it.
func (s *credentials) newTOTPEnrollment(r *http.Request, u *identity.User) (*totpSetupPage, error) {
	account := u.Email
	if account == "" {
		account = u.Username
	}
	e, err := identity.NewTOTP(s.Opts.RPName, account)
	if err != nil {
		return nil, err
	}
	sealed, err := s.TOTPSeal.Seal([]byte(e.Secret), []byte(u.ID))
	if err != nil {
		return nil, err
	}
	if err := s.Store.PutTOTP(r.Context(), &identity.TOTPCredential{UserID: u.ID, EncryptedSecret: sealed, CreatedAt: s.Now()}); err != nil {
		return nil, err
	}
	return &totpSetupPage{
		Secret: e.Secret,
		QR:     template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(e.QRPNG)), // #nosec G203 -- a data: URL of a PNG Portero just encoded, base64 only
	}, nil
}

// confirmTOTP checks the first code of an unconfirmed enrolment and
// confirms it. It returns the secret page again (with Failed) on a wrong code.
func (s *credentials) confirmTOTP(r *http.Request, u *identity.User) (bool, error) {
	cred, err := s.Store.TOTPByUser(r.Context(), u.ID)
	if errors.Is(err, identity.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if cred.ConfirmedAt != nil {
		return false, nil
	}
	secret, err := s.TOTPSeal.Open(cred.EncryptedSecret, []byte(u.ID))
	if err != nil {
		return false, err
	}
	step, ok := identity.TOTPStep(string(secret), r.PostForm.Get("code"), s.Now())
	if !ok {
		return false, nil
	}
	if err := s.Store.ConfirmTOTP(r.Context(), u.ID, s.Now(), step); err != nil {
		if errors.Is(err, identity.ErrNotFound) {
			return false, nil
		}
		return false, err
	}
	s.audit(r, identity.AuditTOTPEnrolled, u.ID, nil)
	return true, nil
}

// issueRecoveryCodes replaces the user's recovery codes and returns the
// new ones, to be shown once.
func (s *credentials) issueRecoveryCodes(r *http.Request, userID string) ([]string, error) {
	codes, err := identity.NewRecoveryCodes()
	if err != nil {
		return nil, err
	}
	hashes := make([]string, len(codes))
	for i, c := range codes {
		n, err := identity.NormalizeRecoveryCode(c)
		if err != nil {
			return nil, err
		}
		hashes[i] = identity.HashRecoveryCode(s.RecoveryKeys[0], n)
	}
	if err := s.Store.ReplaceRecoveryCodes(r.Context(), userID, hashes, s.Now()); err != nil {
		return nil, err
	}
	s.audit(r, identity.AuditRecoveryGenerated, userID, nil)
	return codes, nil
}

type recoveryCodesPage struct {
	Codes    []string
	Continue string
}

// showEnroll is the enrolment the MFA policy (or a step-up) requires of
// an account without a second factor, right after a fresh first factor:
// a TOTP secret to scan.
func (s *signInPages) showEnroll(w http.ResponseWriter, r *http.Request) error {
	p, u, _, ok := s.atStep(w, r, identity.SignInEnroll)
	if !ok {
		return nil
	}
	page, err := s.newTOTPEnrollment(r, u)
	if errors.Is(err, identity.ErrConflict) {
		// Confirmed meanwhile (another tab): use it.
		localpath.Redirect(w, r, pathSecondFactor+flowQuery(p.Flow))
		return nil
	}
	if err != nil {
		return fmt.Errorf("totp enrolment: %w", err)
	}
	page.Flow, page.Action = p.Flow, pathEnroll
	s.Pages.Render(w, r, http.StatusOK, "totpsetup", page)
	return nil
}

func (s *signInPages) submitEnroll(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		s.badRequest(w, r)
		return nil
	}
	p, u, _, ok := s.atStep(w, r, identity.SignInEnroll)
	if !ok {
		return nil
	}
	confirmed, err := s.confirmTOTP(r, u)
	if err != nil {
		return fmt.Errorf("confirm totp: %w", err)
	}
	if !confirmed {
		s.audit(r, identity.AuditMFAFailure, u.ID, map[string]string{"method": "totp_enrolment"})
		page, err := s.newTOTPEnrollment(r, u)
		if err != nil {
			return fmt.Errorf("totp enrolment: %w", err)
		}
		page.Flow, page.Action, page.Failed = p.Flow, pathEnroll, true
		s.Pages.Render(w, r, http.StatusUnauthorized, "totpsetup", page)
		return nil
	}
	codes, err := s.issueRecoveryCodes(r, u.ID)
	if err != nil {
		return fmt.Errorf("recovery codes: %w", err)
	}
	if err := s.startSession(w, r, u, append(slices.Clone(p.AMR), identity.AMROTP), nil); err != nil {
		return fmt.Errorf("start session: %w", err)
	}
	s.Pages.Render(w, r, http.StatusOK, "recoverycodes", recoveryCodesPage{Codes: codes, Continue: continueURL(p.Flow)})
	return nil
}

func flowQuery(flow string) string {
	if flow == "" {
		return ""
	}
	return "?flow=" + url.QueryEscape(flow)
}
