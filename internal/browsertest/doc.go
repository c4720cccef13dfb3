// Package browsertest holds Portero's browser end-to-end tests (headless Chromium via chromedp).
//
// The tests start Portero in-process (SQLite, dev mailer), a tiny relying
// party (the "app") and drive Portero's own pages in headless Chromium:
// sign-up and e-mail verification, password sign-in, TOTP enrolment and
// step-up, recovery codes, passkeys (Chromium's virtual authenticator),
// lockout, logout, prompt=login / max_age and acr_values, and the admin
// pages (an administrator enrols TOTP, searches users, disables and
// enables one, reads the ledger). Every sign-in flow ends
// the way a client sees it: the test, as an independent OpenID Connect
// client (golang.org/x/oauth2 and github.com/coreos/go-oidc), redeems the
// code with PKCE and checks the ID token's nonce, acr, amr and auth_time.
//
// The tests need a Chromium executable (chromium, chromium-browser or
// google-chrome in PATH). Without one they are skipped, unless the
// environment variable CI is set, in which case they fail. They are skipped
// with -short.
//
// When PORTERO_ARTIFACTS_DIR is set, the tests save full-page screenshots
// of the pages, in Spanish (es-CO) and English, to
// $PORTERO_ARTIFACTS_DIR/screenshots/<page>.<lang>.png; docs/pages.md shows
// them.
package browsertest
