package oauth

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/portero-id/portero/identity"
)

func (p *Provider) discoveryDocument() []byte {
	iss := p.opts.Issuer
	authMethods := []string{"client_secret_basic", "client_secret_post", "private_key_jwt"}
	doc := map[string]any{
		"issuer":                                           iss,
		"authorization_endpoint":                           iss + "/oauth2/auth",
		"token_endpoint":                                   iss + "/oauth2/token",
		"userinfo_endpoint":                                iss + "/userinfo",
		"jwks_uri":                                         iss + "/.well-known/jwks.json",
		"end_session_endpoint":                             iss + "/oauth2/logout",
		"introspection_endpoint":                           iss + "/oauth2/introspect",
		"revocation_endpoint":                              iss + "/oauth2/revoke",
		"scopes_supported":                                 p.opts.ScopesSupported,
		"response_types_supported":                         []string{"code"},
		"response_modes_supported":                         []string{"query"},
		"grant_types_supported":                            supportedGrantTypes,
		"subject_types_supported":                          []string{"public"},
		"id_token_signing_alg_values_supported":            []string{AlgRS256, AlgES256},
		"userinfo_signing_alg_values_supported":            []string{"none"},
		"token_endpoint_auth_methods_supported":            append(authMethods, "none"),
		"token_endpoint_auth_signing_alg_values_supported": []string{"RS256", "ES256", "PS256"},
		"introspection_endpoint_auth_methods_supported":    authMethods,
		"revocation_endpoint_auth_methods_supported":       append(authMethods, "none"),
		"code_challenge_methods_supported":                 []string{"S256"},
		"claims_supported":                                 []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "at_hash", "roles", "preferred_username", "email"},
		"acr_values_supported":                             identity.ACRLevels,
		"prompt_values_supported":                          []string{"none", "login", "consent", "select_account"},
		"authorization_response_iss_parameter_supported":   true,
		"claims_parameter_supported":                       false,
		"request_parameter_supported":                      false,
		"request_uri_parameter_supported":                  false,
		"require_request_uri_registration":                 false,
		"frontchannel_logout_supported":                    false,
		"backchannel_logout_supported":                     true,
		"backchannel_logout_session_supported":             false,
		"access_token_signing_alg_values_supported":        []string{AlgES256},
		"introspection_signing_alg_values_supported":       []string{"none"},
	}
	if p.opts.RegistrationToken != "" {
		doc["registration_endpoint"] = iss + "/oauth2/register"
	}
	b, err := json.Marshal(doc)
	if err != nil {
		panic(err) // a static map of strings always marshals
	}
	return b
}

func (p *Provider) serveDiscovery(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	_, _ = w.Write(p.discovery)
}

func (p *Provider) serveJWKS(w http.ResponseWriter, r *http.Request) {
	body, err := p.Keys.MarshalJWKS()
	if err != nil {
		p.Log.ErrorContext(r.Context(), "marshal jwks", "err", err)
		writeJSONError(w, http.StatusInternalServerError, "server_error", "")
		return
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Header().Set("Cache-Control", fmt.Sprintf("public, max-age=%d", int(p.opts.JWKSCachePeriod.Seconds())))
	w.Header().Set("Access-Control-Allow-Origin", "*")
	_, _ = w.Write(body)
}
