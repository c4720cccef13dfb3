package templates_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/i18n"
	"github.com/portero-id/portero/templates"
)

// TestEveryMessageKeyIsTranslated: a key used by a template or by the
// code but missing from the catalogs would show up on a page as the bare
// key. i18n.Load already guarantees that every language has the same
// keys; this test guarantees that those keys cover what is used.
func TestEveryMessageKeyIsTranslated(t *testing.T) {
	locales, err := fs.Sub(templates.Locales, "locales")
	if err != nil {
		t.Fatal(err)
	}
	b, err := i18n.Load(locales, "es-CO")
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]string{} // key → where

	templateKey := regexp.MustCompile(`\.T "([^"]+)"`)
	pages, _ := fs.Glob(templates.FS, "*.html")
	for _, p := range pages {
		src, _ := fs.ReadFile(templates.FS, p)
		for _, m := range templateKey.FindAllStringSubmatch(string(src), -1) {
			used[m[1]] = p
		}
		if name := strings.TrimSuffix(p, ".html"); name != "layout" && name != "error" {
			used[name+".title"] = p + " (page title)"
		}
	}
	for _, typ := range []string{"consent.accepted", "consent.denied", "consent.revoked", "consent.scopes_granted", "consent.scopes_denied", "consent.scopes_revoked"} {
		used[typ] = "mydata.html (ledger entry type)"
	}
	for _, d := range []string{"CC", "TI", "RC", "CE", "PA", "PEP", "PPT"} {
		used["consent.document."+d] = "consent.html (document types)"
	}
	for _, l := range b.Languages() {
		used["lang."+l] = "layout.html (switcher)"
	}

	// Message keys in Go code are string literals of dotted lower-case
	// words under a known prefix.
	codeKey := regexp.MustCompile(`"((?:account|admin|requests|authorize|checkmail|common|consent|devmail|legal|mydata|receipt|scopes|scope|error|forgot|lang|login|logout|mail|mfa|notice|passkey|password|recoverycodes|recoveryused|reset|resetsent|signup|totpsetup|verifyemail)\.[a-z_.]+)"`)
	for _, dir := range []string{"../internal/web", "../internal/admin", "../internal/render", "../oauth"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range codeKey.FindAllStringSubmatch(string(src), -1) {
				if strings.HasSuffix(m[1], ".") {
					continue // a prefix joined with a value at run time
				}
				used[m[1]] = f
			}
		}
	}
	// Keys made at run time from a fixed set.
	for _, n := range []string{"verified", "reset", "loggedout", "reauth"} {
		used["notice."+n] = "internal/web/login.go (notice)"
	}
	for _, n := range []string{"password_changed", "totp_enrolled", "totp_removed", "passkey_added", "passkey_removed", "session_revoked", "verification_sent"} {
		used["account.notice."+n] = "internal/web/account.go (notice)"
	}
	// The request vocabulary (render.Key in internal/web and internal/admin):
	// the prefixes the scan found are not keys themselves.
	for prefix, values := range map[string][]string{
		"requests.kind":    {identity.RequestConsulta, identity.RequestReclamo},
		"requests.type":    identity.RequestTypes,
		"requests.status":  identity.RequestStatuses,
		"requests.refusal": identity.RefusalCodes,
	} {
		delete(used, prefix)
		for _, v := range values {
			used[prefix+"."+v] = "render.Key (request vocabulary)"
		}
	}
	if len(used) < 100 {
		t.Fatalf("found only %d keys: the scan is broken", len(used))
	}
	for key, where := range used {
		if !b.Has(key) {
			t.Errorf("%s uses %q, which the catalogs lack", where, key)
		}
	}
}
