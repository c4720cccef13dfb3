// Package adminview holds the JSON representations of the resources
// administrators manage (clients, users, sessions, roles, keys, ledger
// entries, data-subject requests): the admin API answers with them and
// the CLI prints them with --json, so both show the same thing. They never
// carry a credential (a secret's digest, a password hash, a key's private
// part).
package adminview

import (
	"encoding/json"
	"time"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/manage"
)

// NonNil is s, or an empty list for nil: lists are [] in JSON, never null.
func NonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Client is an OAuth client (never its secret or its digest).
type Client struct {
	ID                       string          `json:"client_id"`
	Name                     string          `json:"client_name"`
	Public                   bool            `json:"public"`
	TokenEndpointAuthMethod  string          `json:"token_endpoint_auth_method"`
	RedirectURIs             []string        `json:"redirect_uris"`
	PostLogoutRedirectURIs   []string        `json:"post_logout_redirect_uris"`
	GrantTypes               []string        `json:"grant_types"`
	ResponseTypes            []string        `json:"response_types"`
	Scopes                   []string        `json:"scopes"`
	Audience                 []string        `json:"audience"`
	Roles                    []string        `json:"roles"`
	JWKS                     json.RawMessage `json:"jwks"`
	TokenFormat              string          `json:"token_format"`
	IDTokenSignedResponseAlg string          `json:"id_token_signed_response_alg"`
	IntrospectAny            bool            `json:"introspect_any"`
	FirstParty               bool            `json:"first_party"`
	PermissionsClaim         bool            `json:"permissions_claim"`
	BackchannelLogoutURI     string          `json:"backchannel_logout_uri"`
	AllowedOrigins           []string        `json:"allowed_origins"`
	TokenRateLimit           int             `json:"token_rate_limit"`
	Disabled                 bool            `json:"disabled"`
	DynamicallyRegistered    bool            `json:"dynamically_registered"`
	CreatedAt                time.Time       `json:"created_at"`
	UpdatedAt                time.Time       `json:"updated_at"`
}

func ClientOf(c *identity.Client) Client {
	jwks := json.RawMessage("null")
	if len(c.JWKS) > 0 && json.Valid(c.JWKS) {
		jwks = c.JWKS
	}
	return Client{
		ID: c.ID, Name: c.Name, Public: c.IsPublic(), TokenEndpointAuthMethod: c.TokenEndpointAuthMethod,
		RedirectURIs: NonNil(c.RedirectURIs), PostLogoutRedirectURIs: NonNil(c.PostLogoutRedirectURIs),
		GrantTypes: NonNil(c.GrantTypes), ResponseTypes: c.ResponseTypes(), Scopes: NonNil(c.Scopes),
		Audience: NonNil(c.Audience), Roles: NonNil(c.Roles), JWKS: jwks, TokenFormat: c.TokenFormat,
		IDTokenSignedResponseAlg: c.IDTokenSignedResponseAlg, IntrospectAny: c.IntrospectAny,
		FirstParty: c.FirstParty, PermissionsClaim: c.PermissionsClaim, BackchannelLogoutURI: c.BackchannelLogoutURI, AllowedOrigins: NonNil(c.AllowedOrigins),
		TokenRateLimit: c.TokenRateLimit,
		Disabled:       c.Disabled, DynamicallyRegistered: len(c.RegistrationTokenHash) > 0,
		CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt,
	}
}

// User is an account (never a credential).
type User struct {
	ID              string     `json:"id"`
	Username        string     `json:"username"`
	Email           string     `json:"email"`
	EmailVerifiedAt *time.Time `json:"email_verified_at"`
	Roles           []string   `json:"roles"`
	Disabled        bool       `json:"disabled"`
	HasPassword     bool       `json:"has_password"`
	CreatedAt       time.Time  `json:"created_at"`
	UpdatedAt       time.Time  `json:"updated_at"`
	// MFA is only in a single user's representation.
	MFA *MFA `json:"mfa,omitempty"`
}

// MFA summarises a user's second factors.
type MFA struct {
	TOTP          bool `json:"totp"`
	Passkeys      int  `json:"passkeys"`
	RecoveryCodes int  `json:"recovery_codes"`
}

func UserOf(u *identity.User) User {
	return User{ID: u.ID, Username: u.Username, Email: u.Email, EmailVerifiedAt: u.EmailVerifiedAt,
		Roles: NonNil(u.Roles), Disabled: u.Disabled, HasPassword: u.PasswordHash != "",
		CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}
}

// UserDetailOf is a single user's representation, with their second
// factors.
func UserDetailOf(u *identity.User, f identity.SecondFactors) User {
	v := UserOf(u)
	v.MFA = &MFA{TOTP: f.TOTP, Passkeys: f.Passkeys, RecoveryCodes: f.RecoveryCodes}
	return v
}

// Session is a browser session; its ID is the stored digest of the
// cookie, not the cookie.
type Session struct {
	ID         string    `json:"id"`
	AuthTime   time.Time `json:"auth_time"`
	AMR        []string  `json:"amr"`
	ACR        string    `json:"acr"`
	IP         string    `json:"ip"`
	UserAgent  string    `json:"user_agent"`
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	ExpiresAt  time.Time `json:"expires_at"`
}

func SessionOf(s *identity.Session) Session {
	return Session{ID: s.ID, AuthTime: s.AuthTime, AMR: NonNil(s.AMR), ACR: s.ACR, IP: s.IP, UserAgent: s.UserAgent,
		CreatedAt: s.CreatedAt, LastSeenAt: s.LastSeenAt, ExpiresAt: s.ExpiresAt}
}

// Role is an entry of the role catalog.
type Role struct {
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Builtin     bool      `json:"builtin"`
	Includes    []string  `json:"includes"`
	Permissions []string  `json:"permissions"`
	CreatedAt   time.Time `json:"created_at"`
}

func RoleOf(r *identity.Role) Role {
	return Role{Name: r.Name, Description: r.Description, Builtin: r.Builtin, Includes: NonNil(r.Includes),
		Permissions: NonNil(r.Permissions), CreatedAt: r.CreatedAt}
}

// Key is a signing key's public metadata.
type Key struct {
	ID        string    `json:"kid"`
	Algorithm string    `json:"alg"`
	Use       string    `json:"use"`
	CreatedAt time.Time `json:"created_at"`
	ActiveAt  time.Time `json:"active_at"`
}

func KeyOf(k *identity.SigningKey) Key {
	return Key{ID: k.ID, Algorithm: k.Algorithm, Use: k.Use, CreatedAt: k.CreatedAt, ActiveAt: k.ActiveAt}
}

// Event is a ledger entry.
type Event struct {
	Seq        int64           `json:"seq"`
	OccurredAt time.Time       `json:"occurred_at"`
	Kind       string          `json:"kind"`
	Type       string          `json:"type"`
	Subject    string          `json:"subject"`
	Actor      string          `json:"actor"`
	ClientID   string          `json:"client_id"`
	IP         string          `json:"ip"`
	UserAgent  string          `json:"user_agent"`
	Locale     string          `json:"locale"`
	Payload    json.RawMessage `json:"payload"`
	Hash       string          `json:"hash"`
}

func EventOf(e *identity.LedgerEntry) Event {
	payload := json.RawMessage("{}")
	if len(e.Payload) > 0 && json.Valid(e.Payload) {
		payload = e.Payload
	}
	return Event{Seq: e.Seq, OccurredAt: e.OccurredAt, Kind: e.Kind, Type: e.Type, Subject: e.Subject,
		Actor: e.Actor, ClientID: e.ClientID, IP: e.IP, UserAgent: e.UserAgent, Locale: e.Locale,
		Payload: payload, Hash: e.Hash}
}

// ScopeConsent is a client's scopes a user consented to and Portero
// remembers.
type ScopeConsent struct {
	ClientID  string    `json:"client_id"`
	Scopes    []string  `json:"scopes"`
	GrantedAt time.Time `json:"granted_at"`
}

// DataRequest is a data-subject request (consulta or reclamo).
type DataRequest struct {
	ID              string     `json:"id"`
	UserID          string     `json:"user_id"`
	Kind            string     `json:"kind"`
	Type            string     `json:"type"`
	Description     string     `json:"description"`
	Status          string     `json:"status"`
	ReceivedAt      time.Time  `json:"received_at"`
	DueAt           time.Time  `json:"due_at"`
	ExtendedDueAt   *time.Time `json:"extended_due_at"`
	ExtensionReason string     `json:"extension_reason"`
	InfoNeeded      string     `json:"info_needed"`
	InfoRequestedAt *time.Time `json:"info_requested_at"`
	WithdrawAt      *time.Time `json:"withdraw_at"`
	InfoProvided    string     `json:"info_provided"`
	InfoProvidedAt  *time.Time `json:"info_provided_at"`
	LegendDueAt     *time.Time `json:"legend_due_at"`
	JudicialDispute bool       `json:"judicial_dispute"`
	Answer          string     `json:"answer"`
	RefusalReason   string     `json:"refusal_reason"`
	ClosedAt        *time.Time `json:"closed_at"`
	UpdatedAt       time.Time  `json:"updated_at"`
}

func DataRequestOf(d *identity.DataRequest) DataRequest {
	return DataRequest{ID: d.ID, UserID: d.UserID, Kind: d.Kind, Type: d.Type, Description: d.Description,
		Status: d.Status, ReceivedAt: d.ReceivedAt, DueAt: d.DueAt, ExtendedDueAt: d.ExtendedDueAt,
		ExtensionReason: d.ExtensionReason, InfoNeeded: d.InfoNeeded, InfoRequestedAt: d.InfoRequestedAt,
		WithdrawAt: d.WithdrawAt, InfoProvided: d.InfoProvided, InfoProvidedAt: d.InfoProvidedAt,
		LegendDueAt: d.LegendDueAt, JudicialDispute: d.JudicialDispute, Answer: d.Answer,
		RefusalReason: d.RefusalReason, ClosedAt: d.ClosedAt, UpdatedAt: d.UpdatedAt}
}

// DataRequestDetail is a request with its history (ledger entries).
type DataRequestDetail struct {
	DataRequest
	History []Event `json:"history"`
}

// DataRequestDetailOf is d with its history.
func DataRequestDetailOf(d *identity.DataRequest, history []identity.LedgerEntry) DataRequestDetail {
	out := DataRequestDetail{DataRequest: DataRequestOf(d), History: []Event{}}
	for i := range history {
		out.History = append(out.History, EventOf(&history[i]))
	}
	return out
}

// Consents are a user's consent records.
type Consents struct {
	Records []Event        `json:"records"`
	Scopes  []ScopeConsent `json:"scope_consents"`
}

// ConsentsOf represents what manage.Service.UserConsents returned.
func ConsentsOf(cs *manage.Consents) Consents {
	out := Consents{Records: []Event{}, Scopes: []ScopeConsent{}}
	for i := range cs.Records {
		out.Records = append(out.Records, EventOf(&cs.Records[i]))
	}
	for _, sc := range cs.Scopes {
		out.Scopes = append(out.Scopes, ScopeConsent{ClientID: sc.ClientID, Scopes: NonNil(sc.Scopes), GrantedAt: sc.GrantedAt})
	}
	return out
}

// ClientWithSecret answers a client's creation or a secret's rotation:
// the secret is shown this once.
type ClientWithSecret struct {
	Client Client `json:"client"`
	Secret string `json:"client_secret,omitempty"`
}

// NetworkRule is a denied or allowed network.
type NetworkRule struct {
	Prefix    string    `json:"prefix"`
	Action    string    `json:"action"`
	Note      string    `json:"note"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
}

func NetworkRuleOf(r *identity.NetworkRule) NetworkRule {
	return NetworkRule{Prefix: r.Prefix, Action: r.Action, Note: r.Note, CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt}
}
