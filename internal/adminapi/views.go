package adminapi

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/portero-id/portero/identity"
)

// Paging.
const (
	defaultLimit = 50
	maxLimit     = 200
)

// page is a list response.
type page[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// cursor is the opaque position after the last item of a page.
type cursor struct {
	ID       string `json:"i,omitempty"`
	Username string `json:"u,omitempty"`
	Seq      int64  `json:"s,omitempty"`
	Offset   int    `json:"o,omitempty"`
}

func (c cursor) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

var errCursor = errors.New("cursor is not one this API returned")

// paging reads cursor and limit; it answers and returns false when they
// are malformed.
func (a *API) paging(c *call) (cursor, int, bool) {
	var cur cursor
	q := c.r.URL.Query()
	limit := defaultLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLimit {
			a.problem(c.w, c.r, http.StatusBadRequest, "invalid-parameter", "Bad query parameter.", "limit must be an integer from 1 to 200")
			return cur, 0, false
		}
		limit = n
	}
	if v := q.Get("cursor"); v != "" {
		b, err := base64.RawURLEncoding.DecodeString(v)
		if err == nil {
			err = json.Unmarshal(b, &cur)
		}
		if err != nil || cur.Seq < 0 || cur.Offset < 0 {
			a.problem(c.w, c.r, http.StatusBadRequest, "invalid-parameter", "Bad query parameter.", errCursor.Error())
			return cur, 0, false
		}
	}
	return cur, limit, true
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// clientView is a client as the API shows it (never its secret).
type clientView struct {
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
	Disabled                 bool            `json:"disabled"`
	DynamicallyRegistered    bool            `json:"dynamically_registered"`
	CreatedAt                time.Time       `json:"created_at"`
	UpdatedAt                time.Time       `json:"updated_at"`
}

func viewClient(c *identity.Client) clientView {
	jwks := json.RawMessage("null")
	if len(c.JWKS) > 0 && json.Valid(c.JWKS) {
		jwks = c.JWKS
	}
	return clientView{
		ID: c.ID, Name: c.Name, Public: c.Public, TokenEndpointAuthMethod: c.TokenEndpointAuthMethod,
		RedirectURIs: nonNil(c.RedirectURIs), PostLogoutRedirectURIs: nonNil(c.PostLogoutRedirectURIs),
		GrantTypes: nonNil(c.GrantTypes), ResponseTypes: nonNil(c.ResponseTypes), Scopes: nonNil(c.Scopes),
		Audience: nonNil(c.Audience), Roles: nonNil(c.Roles), JWKS: jwks, TokenFormat: c.TokenFormat,
		IDTokenSignedResponseAlg: c.IDTokenSignedResponseAlg, IntrospectAny: c.IntrospectAny,
		FirstParty: c.FirstParty, PermissionsClaim: c.PermissionsClaim, BackchannelLogoutURI: c.BackchannelLogoutURI,
		Disabled: c.Disabled, DynamicallyRegistered: len(c.RegistrationTokenHash) > 0,
		CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt,
	}
}

// userView is a user as the API shows it (never a credential).
type userView struct {
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
	MFA *mfaView `json:"mfa,omitempty"`
}

type mfaView struct {
	TOTP          bool `json:"totp"`
	Passkeys      int  `json:"passkeys"`
	RecoveryCodes int  `json:"recovery_codes"`
}

func viewUser(u *identity.User) userView {
	return userView{ID: u.ID, Username: u.Username, Email: u.Email, EmailVerifiedAt: u.EmailVerifiedAt,
		Roles: nonNil(u.Roles), Disabled: u.Disabled, HasPassword: u.PasswordHash != "",
		CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}
}

type sessionView struct {
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

func viewSession(s *identity.Session) sessionView {
	return sessionView{ID: s.ID, AuthTime: s.AuthTime, AMR: nonNil(s.AMR), ACR: s.ACR, IP: s.IP, UserAgent: s.UserAgent,
		CreatedAt: s.CreatedAt, LastSeenAt: s.LastSeenAt, ExpiresAt: s.ExpiresAt}
}

type roleView struct {
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Builtin     bool      `json:"builtin"`
	Includes    []string  `json:"includes"`
	Permissions []string  `json:"permissions"`
	CreatedAt   time.Time `json:"created_at"`
}

func viewRole(r *identity.Role) roleView {
	return roleView{Name: r.Name, Description: r.Description, Builtin: r.Builtin, Includes: nonNil(r.Includes),
		Permissions: nonNil(r.Permissions), CreatedAt: r.CreatedAt}
}

type keyView struct {
	ID        string    `json:"kid"`
	Algorithm string    `json:"alg"`
	Use       string    `json:"use"`
	CreatedAt time.Time `json:"created_at"`
	ActiveAt  time.Time `json:"active_at"`
}

func viewKey(k *identity.SigningKey) keyView {
	return keyView{ID: k.ID, Algorithm: k.Algorithm, Use: k.Use, CreatedAt: k.CreatedAt, ActiveAt: k.ActiveAt}
}

// eventView is a ledger entry.
type eventView struct {
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

func viewEvent(e *identity.LedgerEntry) eventView {
	payload := json.RawMessage("{}")
	if len(e.Payload) > 0 && json.Valid(e.Payload) {
		payload = e.Payload
	}
	return eventView{Seq: e.Seq, OccurredAt: e.OccurredAt, Kind: e.Kind, Type: e.Type, Subject: e.Subject,
		Actor: e.Actor, ClientID: e.ClientID, IP: e.IP, UserAgent: e.UserAgent, Locale: e.Locale,
		Payload: payload, Hash: e.Hash}
}

type scopeConsentView struct {
	ClientID  string    `json:"client_id"`
	Scopes    []string  `json:"scopes"`
	GrantedAt time.Time `json:"granted_at"`
}

type requestView struct {
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

func viewRequest(d *identity.DataRequest) requestView {
	return requestView{ID: d.ID, UserID: d.UserID, Kind: d.Kind, Type: d.Type, Description: d.Description,
		Status: d.Status, ReceivedAt: d.ReceivedAt, DueAt: d.DueAt, ExtendedDueAt: d.ExtendedDueAt,
		ExtensionReason: d.ExtensionReason, InfoNeeded: d.InfoNeeded, InfoRequestedAt: d.InfoRequestedAt,
		WithdrawAt: d.WithdrawAt, InfoProvided: d.InfoProvided, InfoProvidedAt: d.InfoProvidedAt,
		LegendDueAt: d.LegendDueAt, JudicialDispute: d.JudicialDispute, Answer: d.Answer,
		RefusalReason: d.RefusalReason, ClosedAt: d.ClosedAt, UpdatedAt: d.UpdatedAt}
}
