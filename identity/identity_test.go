package identity

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var fastArgon = Argon2Params{MemoryKiB: 1024, Iterations: 1, Parallelism: 1}

func TestPasswordHashing(t *testing.T) {
	hash, err := HashPassword("correct horse battery staple", fastArgon)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=1024,t=1,p=1$") {
		t.Fatalf("hash %q is not a PHC argon2id string", hash)
	}
	if err := VerifyPassword(hash, "correct horse battery staple"); err != nil {
		t.Fatalf("right password: %v", err)
	}
	if err := VerifyPassword(hash, "correct horse battery stapler"); !errors.Is(err, ErrPasswordMismatch) {
		t.Fatalf("wrong password: %v", err)
	}
	other, _ := HashPassword("correct horse battery staple", fastArgon)
	if other == hash {
		t.Fatal("two hashes of one password share a salt")
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=1,t=1,p=1$c2FsdA$a2V5", "$argon2id$v=18$m=1,t=1,p=1$c2FsdA$a2V5",
		"$argon2id$v=19$m=x,t=1,p=1$c2FsdA$a2V5", "$argon2id$v=19$m=1,t=1,p=1$!!$a2V5", "$argon2id$v=19$m=1,t=1,p=1$c2FsdA$"} {
		if err := VerifyPassword(bad, "x"); err == nil || errors.Is(err, ErrPasswordMismatch) {
			t.Errorf("malformed hash %q: %v", bad, err)
		}
	}
	if err := VerifyDummyPassword("anything"); !errors.Is(err, ErrPasswordMismatch) {
		t.Fatal("the dummy check must always fail")
	}
}

func validClient() Client {
	return Client{
		ID: "mobile", TokenEndpointAuthMethod: AuthMethodNone,
		RedirectURIs: []string{"com.example.app:/cb"}, GrantTypes: []string{"authorization_code", "refresh_token"},
		Scopes: []string{"openid"}, TokenFormat: TokenFormatJWT, IDTokenSignedResponseAlg: "RS256",
	}
}

func TestClientValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Client)
		ok     bool
	}{
		{"valid public client", func(*Client) {}, true},
		{"https redirect", func(c *Client) { c.RedirectURIs = []string{"https://app.example.com/cb"} }, true},
		{"loopback http", func(c *Client) { c.RedirectURIs = []string{"http://127.0.0.1/cb"} }, true},
		{"http non-loopback", func(c *Client) { c.RedirectURIs = []string{"http://app.example.com/cb"} }, false},
		{"fragment", func(c *Client) { c.RedirectURIs = []string{"https://app.example.com/cb#x"} }, false},
		{"javascript scheme", func(c *Client) { c.RedirectURIs = []string{"javascript:alert(1)"} }, false},
		{"single-word scheme", func(c *Client) { c.RedirectURIs = []string{"myapp:/cb"} }, false},
		{"relative", func(c *Client) { c.RedirectURIs = []string{"/cb"} }, false},
		{"user info", func(c *Client) { c.RedirectURIs = []string{"https://u:p@app.example.com/cb"} }, false},
		{"no redirect for code", func(c *Client) { c.RedirectURIs = nil }, false},
		{"implicit grant", func(c *Client) { c.GrantTypes = []string{"implicit"} }, false},
		{"password grant", func(c *Client) { c.GrantTypes = []string{"password"} }, false},
		{"refresh alone", func(c *Client) { c.GrantTypes = []string{"refresh_token"} }, false},
		{"public client credentials", func(c *Client) { c.GrantTypes = []string{"client_credentials"} }, false},
		{"public with secret", func(c *Client) { c.SecretHash = make([]byte, 32) }, false},
		{"public introspector", func(c *Client) { c.IntrospectAny = true }, false},
		{"unknown scope", func(c *Client) { c.Scopes = []string{"openid", "root"} }, false},
		{"bad id", func(c *Client) { c.ID = "has space" }, false},
		{"bad role", func(c *Client) { c.Roles = []string{"Admin"} }, false},
		{"bad token format", func(c *Client) { c.TokenFormat = "paseto" }, false},
		{"bad id token alg", func(c *Client) { c.IDTokenSignedResponseAlg = "none" }, false},
		{"basic without secret", func(c *Client) { c.TokenEndpointAuthMethod = AuthMethodBasic }, false},
		{"basic with secret", func(c *Client) {
			c.TokenEndpointAuthMethod, c.SecretHash = AuthMethodBasic, make([]byte, 32)
		}, true},
		{"private key without jwks", func(c *Client) { c.TokenEndpointAuthMethod = AuthMethodPrivateKey }, false},
		{"client_secret_jwt", func(c *Client) { c.TokenEndpointAuthMethod = "client_secret_jwt" }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := validClient()
			tc.change(&c)
			err := c.Validate([]string{"openid", "offline_access"})
			if (err == nil) != tc.ok {
				t.Fatalf("Validate = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
		})
	}
}

func TestUserValidate(t *testing.T) {
	tests := []struct {
		user User
		ok   bool
	}{
		{User{Username: "alice", Email: "alice@example.com"}, true},
		{User{Username: "al", Email: "alice@example.com"}, false},
		{User{Username: "alice smith", Email: "alice@example.com"}, false},
		{User{Username: "alice", Email: "alice"}, false},
		{User{Username: "alice", Email: "@example.com"}, false},
		{User{Username: "alice", Email: "alice@example.com", Roles: []string{"vendor", "super_admin"}}, true},
		{User{Username: "alice", Email: "alice@example.com", Roles: []string{"VENDOR"}}, false},
	}
	for _, tc := range tests {
		if err := tc.user.Validate(); (err == nil) != tc.ok {
			t.Errorf("Validate(%+v) = %v, want ok=%v", tc.user, err, tc.ok)
		}
	}
}

func TestPasswordHashingNormalisesUnicode(t *testing.T) {
	composed, decomposed := "contrase\u00f1a segura", "contrasen\u0303a segura"
	hash, err := HashPassword(composed, fastArgon)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyPassword(hash, decomposed); err != nil {
		t.Fatalf("the decomposed form of the same password must verify: %v", err)
	}
}

func TestPasswordHasherAsksForRehash(t *testing.T) {
	old := &PasswordHasher{Params: fastArgon}
	hash, err := old.Hash("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if rehash, err := old.Verify(hash, "correct horse battery staple"); err != nil || rehash {
		t.Fatalf("same parameters: rehash=%v err=%v", rehash, err)
	}
	stronger := &PasswordHasher{Params: Argon2Params{MemoryKiB: 2048, Iterations: 1, Parallelism: 1}}
	if rehash, err := stronger.Verify(hash, "correct horse battery staple"); err != nil || !rehash {
		t.Fatalf("changed parameters: rehash=%v err=%v", rehash, err)
	}
	if rehash, err := stronger.Verify(hash, "wrong"); !errors.Is(err, ErrPasswordMismatch) || rehash {
		t.Fatalf("wrong password: rehash=%v err=%v", rehash, err)
	}
}

func TestIsMinor(t *testing.T) {
	now := time.Date(2026, time.November, 23, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		birth        time.Time
		doc          string
		minor, known bool
	}{
		{time.Time{}, "", false, false},
		{time.Time{}, "CC", false, true},
		{time.Time{}, "TI", true, true},
		{time.Time{}, "RC", true, true},
		{time.Date(2008, time.November, 23, 0, 0, 0, 0, time.UTC), "", false, true}, // 18 today
		{time.Date(2008, time.November, 24, 0, 0, 0, 0, time.UTC), "", true, true},  // 18 tomorrow
		{time.Date(1990, time.May, 1, 0, 0, 0, 0, time.UTC), "TI", true, true},      // the document wins
	}
	for _, tc := range tests {
		if minor, known := IsMinor(tc.birth, tc.doc, now); minor != tc.minor || known != tc.known {
			t.Errorf("IsMinor(%s, %q) = %v, %v; want %v, %v", tc.birth.Format(time.DateOnly), tc.doc, minor, known, tc.minor, tc.known)
		}
	}
}

func TestRoleCatalog(t *testing.T) {
	c := NewRoleCatalog([]Role{
		{Name: "customer", Permissions: []string{"orders:read:own"}},
		{Name: "vendor", Permissions: []string{"products:write", "orders:read:own"}},
		{Name: "admin", Includes: []string{"vendor", "customer"}, Permissions: []string{"portero:admin:read"}},
		{Name: "super_admin", Includes: []string{"admin"}},
	})
	roles, perms := c.Expand([]string{"super_admin"})
	if strings.Join(roles, ",") != "admin,customer,super_admin,vendor" ||
		strings.Join(perms, ",") != "orders:read:own,portero:admin:read,products:write" {
		t.Fatalf("Expand(super_admin) = %v %v", roles, perms)
	}
	if roles, perms := c.Expand([]string{"auditor"}); len(roles) != 1 || len(perms) != 0 {
		t.Fatalf("an unknown role: %v %v", roles, perms)
	}
	for _, tc := range []struct {
		granter []string
		role    string
		ok      bool
	}{
		{[]string{"admin"}, "vendor", true},
		{[]string{"admin"}, "admin", true},
		{[]string{"admin"}, "super_admin", false},
		{[]string{"vendor"}, "customer", false},
		{[]string{"super_admin"}, "customer", true},
		{[]string{"super_admin"}, "auditor", true}, // a custom role nobody includes
		{[]string{"admin"}, "auditor", false},
	} {
		if got := c.CanGrant(tc.granter, tc.role); got != tc.ok {
			t.Errorf("CanGrant(%v, %s) = %v", tc.granter, tc.role, got)
		}
	}
	if !c.CanManage([]string{"admin"}, []string{"vendor", "customer"}) || c.CanManage([]string{"admin"}, []string{"vendor", "super_admin"}) ||
		!c.CanManage([]string{"vendor"}, nil) {
		t.Error("CanManage: an admin manages vendors and customers, not super_admins")
	}
	if !c.Cycle(&Role{Name: "vendor", Includes: []string{"admin"}}) || c.Cycle(&Role{Name: "support", Includes: []string{"customer"}}) ||
		!c.Cycle(&Role{Name: "loop", Includes: []string{"loop"}}) {
		t.Fatal("cycle detection")
	}
	for p, ok := range map[string]bool{"orders:read": true, "portero:admin:write": true, "Orders:Read": false, "a b": false, "": false} {
		if (ValidPermission(p) == nil) != ok {
			t.Errorf("ValidPermission(%q)", p)
		}
	}
}
