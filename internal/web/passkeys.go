package web

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/render"
)

// ceremonyLifespan bounds a WebAuthn ceremony (the browser prompt).
const ceremonyLifespan = 5 * time.Minute

// webauthnUser adapts a user and their passkeys to go-webauthn. The user
// handle is the user id (a random UUID): no personal data goes to the
// authenticator beyond the username it displays.
type webauthnUser struct {
	u     *identity.User
	creds []webauthn.Credential
}

func (w *webauthnUser) WebAuthnID() []byte                         { return []byte(w.u.ID) }
func (w *webauthnUser) WebAuthnName() string                       { return w.u.Username }
func (w *webauthnUser) WebAuthnDisplayName() string                { return w.u.Username }
func (w *webauthnUser) WebAuthnCredentials() []webauthn.Credential { return w.creds }

func (s *credentials) webauthnUser(r *http.Request, u *identity.User) (*webauthnUser, []identity.WebAuthnCredential, error) {
	stored, err := s.Store.WebAuthnCredentialsByUser(r.Context(), u.ID)
	if err != nil {
		return nil, nil, err
	}
	wu := &webauthnUser{u: u}
	for _, c := range stored {
		var cred webauthn.Credential
		if err := json.Unmarshal(c.Credential, &cred); err != nil {
			return nil, nil, err
		}
		wu.creds = append(wu.creds, cred)
	}
	return wu, stored, nil
}

func credentialID(id []byte) string { return base64.RawURLEncoding.EncodeToString(id) }

// storableCredential drops the attestation statement: only the credential
// id, public key, flags and counters are kept.
func storableCredential(c *webauthn.Credential) ([]byte, error) {
	kept := *c
	kept.Attestation = webauthn.CredentialAttestation{}
	return json.Marshal(kept)
}

// startCeremony keeps the ceremony's session data server-side, single-use,
// and returns the handle the page sends back.
func (s *credentials) startCeremony(r *http.Request, userID string, sd *webauthn.SessionData) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	handle := base64.RawURLEncoding.EncodeToString(b)
	data, err := json.Marshal(sd)
	if err != nil {
		return "", err
	}
	now := s.Now()
	err = s.Store.CreateOneTimeToken(r.Context(), &identity.OneTimeToken{
		ID: tokenDigest(handle), Purpose: identity.PurposeWebAuthn, UserID: userID,
		Data: string(data), CreatedAt: now, ExpiresAt: now.Add(ceremonyLifespan),
	})
	return handle, err
}

// endCeremony consumes the ceremony named by the request.
func (s *credentials) endCeremony(r *http.Request) (*identity.OneTimeToken, *webauthn.SessionData, error) {
	handle := r.URL.Query().Get("ceremony")
	if handle == "" || len(handle) > 64 {
		return nil, nil, identity.ErrNotFound
	}
	t, err := s.Store.ConsumeOneTimeToken(r.Context(), identity.PurposeWebAuthn, tokenDigest(handle), s.Now())
	if err != nil {
		return nil, nil, err
	}
	var sd webauthn.SessionData
	if err := json.Unmarshal([]byte(t.Data), &sd); err != nil {
		return nil, nil, err
	}
	return t, &sd, nil
}

// tokenDigest is how one-time token values are stored (the CLI's
// bootstrap link uses the same identity.Digest).
func tokenDigest(v string) string { return identity.Digest(v) }

type jsonError struct {
	Error string `json:"error"`
	// Redirect, if set, is where the page should send the browser.
	Redirect string `json:"redirect,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *base) jsonServerError(w http.ResponseWriter, r *http.Request, what string, err error) {
	s.Log.ErrorContext(r.Context(), what, "err", err)
	if errors.Is(err, identity.ErrUnavailable) {
		w.Header().Set("Retry-After", render.RetryAfter)
		writeJSON(w, http.StatusServiceUnavailable, jsonError{Error: "temporarily_unavailable"})
		return
	}
	writeJSON(w, http.StatusInternalServerError, jsonError{Error: "server_error"})
}

type ceremonyStart struct {
	Ceremony string `json:"ceremony"`
	Options  any    `json:"options"`
}

// passkeyRegisterBegin starts adding a passkey to the signed-in account:
// discoverable (so it can sign in without a username), user verification
// preferred, existing credentials excluded.
func (s *accountPages) passkeyRegisterBegin(w http.ResponseWriter, r *http.Request) error {
	sess, u, err := s.signedIn(r)
	if err != nil {
		return fmt.Errorf("load session: %w", err)
	}
	if u == nil {
		writeJSON(w, http.StatusUnauthorized, jsonError{Error: "login_required", Redirect: "/login"})
		return nil
	}
	if !s.fresh(sess.AuthTime) {
		writeJSON(w, http.StatusUnauthorized, jsonError{Error: "reauth_required", Redirect: reauthURL(u)})
		return nil
	}
	wu, _, err := s.webauthnUser(r, u)
	if err != nil {
		return fmt.Errorf("load passkeys: %w", err)
	}
	opts, sd, err := s.WebAuthn.BeginRegistration(wu,
		webauthn.WithExclusions(webauthn.Credentials(wu.creds).CredentialDescriptors()),
		webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementRequired),
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			ResidentKey:      protocol.ResidentKeyRequirementRequired,
			UserVerification: protocol.VerificationPreferred,
		}),
	)
	if err != nil {
		return fmt.Errorf("begin passkey registration: %w", err)
	}
	handle, err := s.startCeremony(r, u.ID, sd)
	if err != nil {
		return fmt.Errorf("store ceremony: %w", err)
	}
	writeJSON(w, http.StatusOK, ceremonyStart{handle, opts.Response})
	return nil
}

func (s *accountPages) passkeyRegisterFinish(w http.ResponseWriter, r *http.Request) error {
	_, u, err := s.signedIn(r)
	if err != nil {
		return fmt.Errorf("load session: %w", err)
	}
	if u == nil {
		writeJSON(w, http.StatusUnauthorized, jsonError{Error: "login_required"})
		return nil
	}
	t, sd, err := s.endCeremony(r)
	if err != nil || t.UserID != u.ID {
		if err != nil && !errors.Is(err, identity.ErrNotFound) {
			return fmt.Errorf("load ceremony: %w", err)
		}
		writeJSON(w, http.StatusBadRequest, jsonError{Error: "ceremony_expired"})
		return nil
	}
	name := strings.TrimSpace(r.URL.Query().Get("name"))
	if name == "" {
		name = "Passkey"
	}
	name = truncate(name, 64)
	wu, _, err := s.webauthnUser(r, u)
	if err != nil {
		return fmt.Errorf("load passkeys: %w", err)
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	cred, err := s.WebAuthn.FinishRegistration(wu, *sd, r)
	if err != nil {
		s.Log.InfoContext(r.Context(), "passkey registration refused", "user_id", u.ID, "err", err)
		writeJSON(w, http.StatusBadRequest, jsonError{Error: "registration_failed"})
		return nil
	}
	data, err := storableCredential(cred)
	if err != nil {
		return fmt.Errorf("encode passkey: %w", err)
	}
	err = s.Store.CreateWebAuthnCredential(r.Context(), &identity.WebAuthnCredential{
		ID: credentialID(cred.ID), UserID: u.ID, Name: name, Credential: data, CreatedAt: s.Now(),
	})
	if errors.Is(err, identity.ErrConflict) {
		writeJSON(w, http.StatusConflict, jsonError{Error: "already_registered"})
		return nil
	}
	if err != nil {
		return fmt.Errorf("store passkey: %w", err)
	}
	s.audit(r, identity.AuditPasskeyAdded, u.ID, map[string]string{"credential": credentialID(cred.ID), "name": name})
	writeJSON(w, http.StatusOK, map[string]string{"redirect": "/account?notice=passkey_added"})
	return nil
}

// passkeyLoginBegin starts a passkey sign-in: as the second factor of a
// pending sign-in (the user's own credentials), or passwordless with any
// discoverable credential (user verification required: the passkey alone
// must be two factors).
func (s *signInPages) passkeyLoginBegin(w http.ResponseWriter, r *http.Request) error {
	var (
		opts   *protocol.CredentialAssertion
		sd     *webauthn.SessionData
		userID string
		err    error
	)
	if p, perr := s.Sessions.Pending(r); perr == nil {
		u, err := s.Store.UserByID(r.Context(), p.UserID)
		if err != nil {
			writeJSON(w, http.StatusUnauthorized, jsonError{Error: "login_required"})
			return nil
		}
		wu, _, err := s.webauthnUser(r, u)
		if err != nil {
			return fmt.Errorf("load passkeys: %w", err)
		}
		if len(wu.creds) == 0 {
			writeJSON(w, http.StatusBadRequest, jsonError{Error: "no_passkey"})
			return nil
		}
		opts, sd, err = s.WebAuthn.BeginLogin(wu, webauthn.WithUserVerification(protocol.VerificationPreferred))
		if err != nil {
			return fmt.Errorf("begin passkey login: %w", err)
		}
		userID = u.ID
	} else {
		opts, sd, err = s.WebAuthn.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
		if err != nil {
			return fmt.Errorf("begin passkey login: %w", err)
		}
	}
	handle, err := s.startCeremony(r, userID, sd)
	if err != nil {
		return fmt.Errorf("store ceremony: %w", err)
	}
	writeJSON(w, http.StatusOK, ceremonyStart{handle, opts.Response})
	return nil
}

func (s *signInPages) passkeyLoginFinish(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	t, sd, err := s.endCeremony(r)
	if err != nil {
		if !errors.Is(err, identity.ErrNotFound) {
			return fmt.Errorf("load ceremony: %w", err)
		}
		writeJSON(w, http.StatusBadRequest, jsonError{Error: "ceremony_expired"})
		return nil
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	a, ok := passkeyAssertion{flow: flowParam(r)}, false
	if t.UserID != "" {
		ok = s.assertSecondFactor(w, r, t.UserID, sd, &a)
	} else {
		ok = s.assertPasswordless(w, r, sd, &a)
	}
	if !ok {
		return nil
	}
	user, cred, baseAMR, flow := a.user, a.cred, a.baseAMR, a.flow
	if user.Disabled {
		writeJSON(w, http.StatusUnauthorized, jsonError{Error: "login_failed"})
		return nil
	}
	if cred.Authenticator.CloneWarning {
		// The sign count went backwards: two authenticators share this
		// key. Refuse and record it; the user should remove the passkey.
		s.audit(r, identity.AuditMFAFailure, user.ID, map[string]string{"method": "passkey", "reason": "clone_warning", "credential": credentialID(cred.ID)})
		writeJSON(w, http.StatusUnauthorized, jsonError{Error: "login_failed"})
		return nil
	}
	data, err := storableCredential(cred)
	if err != nil {
		return fmt.Errorf("encode passkey: %w", err)
	}
	if err := s.Store.UpdateWebAuthnCredential(ctx, credentialID(cred.ID), data, s.Now()); err != nil {
		return fmt.Errorf("update passkey: %w", err)
	}
	amr := append(slices.Clone(baseAMR), identity.PasskeyAMR(cred.Flags.BackupEligible, cred.Flags.UserVerified)...)
	if err := s.startSession(w, r, user, amr, map[string]string{"credential": credentialID(cred.ID)}); err != nil {
		return fmt.Errorf("start session: %w", err)
	}
	writeJSON(w, http.StatusOK, map[string]string{"redirect": continueURL(flow)})
	return nil
}

// passkeyAssertion is who a passkey sign-in proved to be, with what, and
// where it goes on to.
type passkeyAssertion struct {
	user    *identity.User
	cred    *webauthn.Credential
	baseAMR []string // the methods the pending sign-in already proved
	flow    string
}

// assertSecondFactor checks a passkey as the second factor of the pending
// sign-in, which must be the ceremony's user's.
func (s *signInPages) assertSecondFactor(w http.ResponseWriter, r *http.Request, userID string, sd *webauthn.SessionData, a *passkeyAssertion) bool {
	p, err := s.Sessions.Pending(r)
	if err != nil || p.UserID != userID {
		writeJSON(w, http.StatusUnauthorized, jsonError{Error: "login_required"})
		return false
	}
	if a.user, err = s.Store.UserByID(r.Context(), p.UserID); err != nil {
		writeJSON(w, http.StatusUnauthorized, jsonError{Error: "login_required"})
		return false
	}
	wu, _, err := s.webauthnUser(r, a.user)
	if err != nil {
		s.jsonServerError(w, r, "load passkeys", err)
		return false
	}
	if a.cred, err = s.WebAuthn.FinishLogin(wu, *sd, r); err != nil {
		s.passkeyRefused(w, r, a.user.ID, err)
		return false
	}
	a.baseAMR, a.flow = p.AMR, p.Flow
	return true
}

// assertPasswordless checks a discoverable passkey on its own: the
// credential names its user, whose handle must match.
func (s *signInPages) assertPasswordless(w http.ResponseWriter, r *http.Request, sd *webauthn.SessionData, a *passkeyAssertion) bool {
	ctx := r.Context()
	handler := func(rawID, userHandle []byte) (webauthn.User, error) {
		c, err := s.Store.WebAuthnCredentialByID(ctx, credentialID(rawID))
		if err != nil {
			return nil, err
		}
		if c.UserID != string(userHandle) {
			return nil, errors.New("user handle does not match the credential")
		}
		u, err := s.Store.UserByID(ctx, c.UserID)
		if err != nil {
			return nil, err
		}
		wu, _, err := s.webauthnUser(r, u)
		if err != nil {
			return nil, err
		}
		a.user = u
		return wu, nil
	}
	var err error
	if _, a.cred, err = s.WebAuthn.FinishPasskeyLogin(handler, *sd, r); err != nil {
		userID := ""
		if a.user != nil {
			userID = a.user.ID
		}
		s.passkeyRefused(w, r, userID, err)
		return false
	}
	return true
}

func (s *signInPages) passkeyRefused(w http.ResponseWriter, r *http.Request, userID string, err error) {
	s.Log.InfoContext(r.Context(), "passkey sign-in refused", "user_id", userID, "err", err)
	s.audit(r, identity.AuditMFAFailure, userID, map[string]string{"method": "passkey"})
	writeJSON(w, http.StatusUnauthorized, jsonError{Error: "login_failed"})
}
