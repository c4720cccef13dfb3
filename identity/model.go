package identity

import (
	"slices"
	"time"
)

// User is an end-user account. Roles are role names (customer, vendor, …).
type User struct {
	ID           string
	Username     string
	Email        string
	PasswordHash string // argon2id PHC string; empty: no password set
	Roles        []string
	Disabled     bool
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// HasRole reports whether the user holds role.
func (u *User) HasRole(role string) bool { return slices.Contains(u.Roles, role) }

// Token formats a client can choose for its access tokens.
const (
	TokenFormatJWT    = "jwt"
	TokenFormatOpaque = "opaque"
)

// Client authentication methods (RFC 7591 names).
const (
	AuthMethodBasic      = "client_secret_basic"
	AuthMethodPost       = "client_secret_post"
	AuthMethodPrivateKey = "private_key_jwt"
	AuthMethodNone       = "none"
)

// Client is a registered OAuth client.
type Client struct {
	ID   string
	Name string
	// SecretHash is the SHA-256 digest of the secret; empty for public clients
	// and for clients that authenticate with private_key_jwt.
	SecretHash              []byte
	Public                  bool
	TokenEndpointAuthMethod string
	RedirectURIs            []string
	PostLogoutRedirectURIs  []string
	GrantTypes              []string
	ResponseTypes           []string
	Scopes                  []string
	Audience                []string
	// Roles are the client's own roles, carried by client-credentials tokens.
	Roles []string
	// JWKS is the client's public key set (JSON) for private_key_jwt.
	JWKS                     []byte
	TokenFormat              string
	IDTokenSignedResponseAlg string
	// IntrospectAny lets the client introspect tokens issued to other
	// clients (a resource server); without it a client only sees its own
	// tokens and tokens whose audience names it.
	IntrospectAny bool
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// GrantKind tells which fosite record a Grant holds.
type GrantKind string

const (
	GrantAuthorizeCode GrantKind = "authorize_code"
	GrantAccessToken   GrantKind = "access_token"
	GrantRefreshToken  GrantKind = "refresh_token"
	GrantPKCE          GrantKind = "pkce"
	GrantOIDC          GrantKind = "oidc"
)

// Grant is the stored request behind one token or code. RequestID groups a
// family: every token issued from one authorization shares it.
type Grant struct {
	Kind      GrantKind
	Signature string
	RequestID string
	ClientID  string
	Subject   string
	Active    bool
	// RotatedAt is set the first time a refresh token is exchanged.
	RotatedAt   *time.Time
	RequestedAt time.Time
	ExpiresAt   time.Time
	// Data is the serialized request (scopes, audience, session); opaque to
	// the store.
	Data []byte
}

// SigningKey is one JOSE signing key. PrivateJWK is encrypted by the caller
// before it reaches the store.
type SigningKey struct {
	ID                  string // kid
	Algorithm           string // RS256, ES256
	Use                 string // access_token, id_token
	PublicJWK           []byte
	EncryptedPrivateJWK []byte
	CreatedAt           time.Time
	// ActiveAt is when the key starts signing: after the JWKS cache period,
	// so verifiers have fetched it before they see tokens signed with it.
	ActiveAt time.Time
}

// Session is a signed-in browser session.
type Session struct {
	ID         string // stored as given; callers store a digest of the cookie value
	UserID     string
	AuthTime   time.Time
	AMR        []string
	ACR        string
	IP         string
	UserAgent  string
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time
}

// PendingAuthorization is an authorization request parked while the user
// signs in (and, later, passes MFA and consent).
type PendingAuthorization struct {
	ID        string
	Query     string // the original /oauth2/auth query
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Authentication context classes (acr) Portero asserts, weakest first, and
// the RFC 8176 authentication method references (amr) behind them.
const (
	ACRPassword = "urn:portero:acr:pwd"
	AMRPassword = "pwd"
)
