package oauth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/gorilla/mux"

	"github.com/portero-id/portero/identity"
)

// Dynamic client registration (RFC 7591) behind an initial access token,
// and the client's own read, update and delete (RFC 7592) with the
// registration access token it got. Off unless secrets.client_registration is set.
// Registered clients are third-party by construction: never first-party,
// never with roles, never able to introspect other clients' tokens.

// clientMetadata is the RFC 7591 request and response body.
type clientMetadata struct {
	ClientID                string   `json:"client_id,omitempty"`
	ClientSecret            string   `json:"client_secret,omitempty"`
	ClientIDIssuedAt        int64    `json:"client_id_issued_at,omitempty"`
	ClientSecretExpiresAt   *int64   `json:"client_secret_expires_at,omitempty"`
	RegistrationAccessToken string   `json:"registration_access_token,omitempty"`
	RegistrationClientURI   string   `json:"registration_client_uri,omitempty"`
	ClientName              string   `json:"client_name,omitempty"`
	RedirectURIs            []string `json:"redirect_uris"`
	PostLogoutRedirectURIs  []string `json:"post_logout_redirect_uris,omitempty"`
	GrantTypes              []string `json:"grant_types"`
	ResponseTypes           []string `json:"response_types"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
	Scope                   string   `json:"scope"`
	BackchannelLogoutURI    string   `json:"backchannel_logout_uri,omitempty"`
}

func registrationError(w http.ResponseWriter, code, description string) {
	writeJSONError(w, http.StatusBadRequest, code, description)
}

// bearer compares the request's bearer token with want in constant time.
func bearer(r *http.Request, want []byte, hashed bool) bool {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || token == "" || len(want) == 0 {
		return false
	}
	got := []byte(token)
	if hashed {
		sum := sha256.Sum256(got)
		got = sum[:]
	}
	return subtle.ConstantTimeCompare(got, want) == 1
}

func unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	writeJSONError(w, http.StatusUnauthorized, "invalid_token", "")
}

// metadataError is an RFC 7591 §3.2.2 error.
type metadataError struct{ code, description string }

func badMetadata(description string) *metadataError {
	return &metadataError{"invalid_client_metadata", description}
}

// decodeMetadata reads a registration body and applies the defaults.
func decodeMetadata(r *http.Request) (*clientMetadata, *metadataError) {
	var m clientMetadata
	if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
		return nil, badMetadata("The body must be a JSON object of client metadata.")
	}
	if len(m.GrantTypes) == 0 {
		m.GrantTypes = []string{"authorization_code"}
	}
	if len(m.ResponseTypes) == 0 && slices.Contains(m.GrantTypes, "authorization_code") {
		m.ResponseTypes = []string{"code"}
	}
	// RFC 7591 §2.1: response types and grant types must agree. The only
	// flow served is the code flow, so code goes with authorization_code
	// and nothing goes without it (a client's response types are derived
	// from its grant types, and are not stored).
	if want := (&identity.Client{GrantTypes: m.GrantTypes}).ResponseTypes(); !slices.Equal(m.ResponseTypes, want) && len(m.ResponseTypes) > 0 {
		return nil, badMetadata(`response_types must be ["code"] with the authorization_code grant, and empty without it.`)
	}
	if m.TokenEndpointAuthMethod == "" {
		m.TokenEndpointAuthMethod = identity.AuthMethodBasic
	}
	for _, g := range m.GrantTypes {
		if g != "authorization_code" && g != "refresh_token" && g != "client_credentials" {
			return nil, badMetadata("grant_types may hold authorization_code, refresh_token and client_credentials.")
		}
	}
	switch m.TokenEndpointAuthMethod {
	case identity.AuthMethodNone, identity.AuthMethodBasic, identity.AuthMethodPost:
	default:
		return nil, badMetadata("token_endpoint_auth_method must be none, client_secret_basic or client_secret_post.")
	}
	if slices.ContainsFunc(strings.Fields(m.Scope), identity.PorteroScope) {
		// A registered client could otherwise ask an administrator to
		// consent to the admin API's scopes.
		return nil, badMetadata("Scopes of Portero's own APIs cannot be registered.")
	}
	return &m, nil
}

// applyMetadata sets the registrable fields of c from m and validates the
// result. Portero itself calls the back-channel logout URI, so it must pass
// the outbound policy (https, a public address): a registrant must not aim
// Portero at its own host or network.
func (p *Provider) applyMetadata(ctx context.Context, c *identity.Client, m *clientMetadata) *metadataError {
	if u := m.BackchannelLogoutURI; u != "" {
		if err := p.opts.Outbound.CheckURL(ctx, u); err != nil {
			return badMetadata("backchannel_logout_uri: " + err.Error() + ".")
		}
	}
	c.Name = m.ClientName
	if c.Name == "" {
		c.Name = c.ID
	}
	c.TokenEndpointAuthMethod = m.TokenEndpointAuthMethod
	c.RedirectURIs, c.PostLogoutRedirectURIs = m.RedirectURIs, m.PostLogoutRedirectURIs
	c.GrantTypes, c.Scopes = m.GrantTypes, strings.Fields(m.Scope)
	c.BackchannelLogoutURI = m.BackchannelLogoutURI
	if err := c.Validate(p.opts.ScopesSupported); err != nil {
		code := "invalid_client_metadata"
		if errors.Is(err, identity.ErrRedirectURI) {
			code = "invalid_redirect_uri"
		}
		return &metadataError{code, strings.ReplaceAll(err.Error(), "\n", "; ")}
	}
	return nil
}

func (p *Provider) register(w http.ResponseWriter, r *http.Request) {
	if !bearer(r, []byte(p.opts.RegistrationToken), false) {
		unauthorized(w)
		return
	}
	m, merr := decodeMetadata(r)
	if merr != nil {
		registrationError(w, merr.code, merr.description)
		return
	}
	idBytes := make([]byte, 16)
	if _, err := rand.Read(idBytes); err != nil {
		writeJSONError(w, http.StatusInternalServerError, "server_error", "")
		return
	}
	c := &identity.Client{
		ID:          "dyn-" + base64.RawURLEncoding.EncodeToString(idBytes),
		TokenFormat: identity.TokenFormatJWT, IDTokenSignedResponseAlg: AlgRS256,
	}
	var secret string
	if m.TokenEndpointAuthMethod != identity.AuthMethodNone {
		s, digest, err := GenerateClientSecret()
		if err != nil {
			writeJSONError(w, http.StatusInternalServerError, "server_error", "")
			return
		}
		secret, c.SecretHash = s, digest
	}
	if merr := p.applyMetadata(r.Context(), c, m); merr != nil {
		registrationError(w, merr.code, merr.description)
		return
	}
	regToken, regDigest, err := GenerateClientSecret()
	if err != nil {
		writeJSONError(w, http.StatusInternalServerError, "server_error", "")
		return
	}
	c.RegistrationTokenHash = regDigest
	if err := p.Registrar.RegisterClient(r.Context(), c); err != nil {
		p.writeStoreError(w, r, err)
		return
	}
	out := p.metadataOf(c)
	out.ClientSecret, out.RegistrationAccessToken = secret, regToken
	writeJSON(w, http.StatusCreated, out)
}

// updateRegistration replaces the client's metadata (RFC 7592 §2.2).
// Omitted fields take their defaults, as at registration. The client's
// secret and registration access token stay; a client_secret in the body
// must be the current one. Whether the client is public cannot change: its
// way of authenticating would go with it.
func (p *Provider) updateRegistration(w http.ResponseWriter, r *http.Request) {
	c, ok := p.registeredClient(w, r)
	if !ok {
		return
	}
	m, merr := decodeMetadata(r)
	if merr != nil {
		registrationError(w, merr.code, merr.description)
		return
	}
	switch {
	case m.ClientID != c.ID:
		registrationError(w, "invalid_client_metadata", "client_id must be the client's own.")
		return
	case m.RegistrationAccessToken != "" || m.RegistrationClientURI != "" || m.ClientSecretExpiresAt != nil || m.ClientIDIssuedAt != 0:
		// RFC 7592 §2.2: the client MUST NOT send these.
		registrationError(w, "invalid_client_metadata", "registration_access_token, registration_client_uri, client_secret_expires_at and client_id_issued_at are the server's.")
		return
	case m.ClientSecret != "" && subtle.ConstantTimeCompare(HashClientSecret(m.ClientSecret), c.SecretHash) != 1:
		registrationError(w, "invalid_client_metadata", "client_secret does not match the client's.")
		return
	case c.FirstParty || len(c.Roles) > 0 || c.IntrospectAny:
		// An administrator has given the client privileges: its redirect
		// URIs and scopes are no longer the registrant's to change.
		registrationError(w, "invalid_client_metadata", "An administrator manages this client now; its metadata cannot be changed here.")
		return
	case (m.TokenEndpointAuthMethod == identity.AuthMethodNone) != c.IsPublic():
		registrationError(w, "invalid_client_metadata", "A client cannot change between public and confidential: register a new one.")
		return
	}
	next := *c
	if merr := p.applyMetadata(r.Context(), &next, m); merr != nil {
		registrationError(w, merr.code, merr.description)
		return
	}
	err := p.Registrar.UpdateRegistration(r.Context(), &next, c)
	if identity.ErrorKind(err) == identity.KindPrecondition {
		writeJSONError(w, http.StatusConflict, "invalid_client_metadata", "The client changed meanwhile; read it and retry.")
		return
	}
	if err != nil {
		p.writeStoreError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, p.metadataOf(&next))
}

func (p *Provider) metadataOf(c *identity.Client) clientMetadata {
	never := int64(0)
	m := clientMetadata{
		ClientID: c.ID, ClientIDIssuedAt: c.CreatedAt.Unix(), ClientName: c.Name,
		RegistrationClientURI: p.opts.Issuer + "/oauth2/register/" + c.ID,
		RedirectURIs:          c.RedirectURIs, PostLogoutRedirectURIs: c.PostLogoutRedirectURIs,
		GrantTypes: c.GrantTypes, ResponseTypes: c.ResponseTypes(), TokenEndpointAuthMethod: c.TokenEndpointAuthMethod,
		Scope: strings.Join(c.Scopes, " "), BackchannelLogoutURI: c.BackchannelLogoutURI,
	}
	if !c.IsPublic() {
		m.ClientSecretExpiresAt = &never
	}
	if m.RedirectURIs == nil {
		m.RedirectURIs = []string{}
	}
	if m.ResponseTypes == nil {
		m.ResponseTypes = []string{}
	}
	return m
}

// registeredClient loads the client named in the path if the request
// carries its registration access token; otherwise it answers 401 (an
// unknown or disabled client answers the same, RFC 7592 §2).
func (p *Provider) registeredClient(w http.ResponseWriter, r *http.Request) (*identity.Client, bool) {
	c, err := p.Store.ClientByID(r.Context(), mux.Vars(r)["id"])
	if err != nil && !errors.Is(err, identity.ErrNotFound) {
		p.writeStoreError(w, r, err)
		return nil, false
	}
	if c == nil || c.Disabled || !bearer(r, c.RegistrationTokenHash, true) {
		// A disabled client manages nothing until an administrator
		// enables it again.
		unauthorized(w)
		return nil, false
	}
	return c, true
}

func (p *Provider) readRegistration(w http.ResponseWriter, r *http.Request) {
	if c, ok := p.registeredClient(w, r); ok {
		writeJSON(w, http.StatusOK, p.metadataOf(c))
	}
}

func (p *Provider) deleteRegistration(w http.ResponseWriter, r *http.Request) {
	c, ok := p.registeredClient(w, r)
	if !ok {
		return
	}
	if err := p.Registrar.DeleteRegistration(r.Context(), c.ID); err != nil {
		p.writeStoreError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
