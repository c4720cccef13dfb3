package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/portero-id/portero/internal/i18n"
	"github.com/portero-id/portero/templates"
)

const (
	// testTimeout bounds one test's browser; stepTimeout one navigation.
	testTimeout = 60 * time.Second
	stepTimeout = 15 * time.Second

	// The viewport of the screenshots.
	viewportWidth, viewportHeight = 1280, 900

	// envArtifacts names the directory that receives the screenshots.
	envArtifacts = "PORTERO_ARTIFACTS_DIR"
)

// acceptLanguage is what a browser set to each of Portero's languages sends.
var acceptLanguage = map[string]string{
	"es-CO": "es-CO,es;q=0.9",
	"en":    "en-US,en;q=0.9",
}

// chromiumPath finds a Chromium or Chrome executable in PATH.
func chromiumPath() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// requireChromium skips the test in -short mode and when there is no
// browser, except in CI (CI set), where a missing browser is a failure.
func requireChromium(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("browser end-to-end tests are skipped in -short mode")
	}
	p := chromiumPath()
	if p == "" {
		msg := "no Chromium found in PATH (looked for chromium, chromium-browser, google-chrome); install it, e.g. apt-get install -y chromium"
		if os.Getenv("CI") != "" {
			t.Fatal(msg + " (CI is set, so this is a failure, not a skip)")
		}
		t.Skip(msg)
	}
	return p
}

// texts are Portero's catalogs, to know what a page must say.
var catalogs = sync.OnceValues(func() (*i18n.Bundle, error) {
	sub, err := fs.Sub(templates.Locales, "locales")
	if err != nil {
		return nil, err
	}
	return i18n.Load(sub, "es-CO")
})

// T is the text of key in lang, as Portero renders it.
func T(t *testing.T, lang, key string, args ...any) string {
	t.Helper()
	b, err := catalogs()
	if err != nil {
		t.Fatal(err)
	}
	if !b.Has(key) {
		t.Fatalf("no text %q in the catalogs", key)
	}
	return b.T(lang, key, args...)
}

// catalogKeys are the message keys, to catch one shown untranslated.
var catalogKeys = sync.OnceValues(func() (map[string]bool, error) {
	data, err := fs.ReadFile(templates.Locales, "locales/es-CO.json")
	if err != nil {
		return nil, err
	}
	var cat map[string]string
	if err := json.Unmarshal(data, &cat); err != nil {
		return nil, err
	}
	keys := map[string]bool{}
	for k := range cat {
		keys[k] = true
	}
	return keys, nil
})

var keyLike = regexp.MustCompile(`[a-z][a-z0-9_-]*(?:\.[a-zA-Z0-9_-]+)+`)

// browser is one headless Chromium with one tab, in one language.
type browser struct {
	t    *testing.T
	e    *env
	ctx  context.Context
	lang string

	authenticator webauthn.AuthenticatorID

	mu       sync.Mutex
	problems []string // page exceptions and CSP violations
}

// newBrowser starts Chromium for the test, sending Accept-Language for
// lang ("es-CO" or "en").
func newBrowser(t *testing.T, e *env, lang string) *browser {
	t.Helper()
	path := requireChromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox, // tests often run as root in containers
		chromedp.WindowSize(viewportWidth, viewportHeight),
		chromedp.Flag("hide-scrollbars", true),
	)
	base, cancelTimeout := context.WithTimeout(context.Background(), testTimeout)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(base, opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx, chromedp.WithErrorf(func(f string, args ...any) {
		// The browser's protocol errors; seldom useful, but not silent.
		t.Logf("chromedp: "+f, args...)
	}))
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
		cancelTimeout()
	})
	b := &browser{t: t, e: e, ctx: ctx, lang: lang}
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium (%s): %v", path, err)
	}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			text := m.String()
			if m.IsException() || strings.Contains(text, "Content Security Policy") {
				b.mu.Lock()
				b.problems = append(b.problems, fmt.Sprintf("%s (%s:%d)", text, m.URL, m.Line+1))
				b.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, p := range b.problems {
			t.Errorf("page error in the browser: %s", p)
		}
	})
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(viewportWidth, viewportHeight)); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	b.setLang(lang)
	return b
}

// fatalf stops the test with what the browser shows.
func (b *browser) fatalf(format string, args ...any) {
	b.t.Helper()
	b.t.Fatalf("%s\n  at %s\n  page: %s", fmt.Sprintf(format, args...), b.location(), b.pageText())
}

func (b *browser) step() (context.Context, context.CancelFunc) {
	return context.WithTimeout(b.ctx, stepTimeout)
}

// setLang makes the browser ask for lang.
func (b *browser) setLang(lang string) {
	b.t.Helper()
	_, err := chromedp.Call(b.ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
		Headers: network.Headers{"Accept-Language": acceptLanguage[lang]},
	})
	if err != nil {
		b.t.Fatal(err)
	}
	b.lang = lang
}

// open navigates to u and returns the HTTP status of the page it ends on.
func (b *browser) open(u string) int64 {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(u))
	if err != nil {
		b.fatalf("open %s: %v", u, err)
	}
	return statusOf(resp)
}

func statusOf(r *network.Response) int64 {
	if r == nil {
		return 0
	}
	return r.Status
}

// click clicks the element and waits for the page it leads to (a form
// post, a link or a script's navigation); it returns that page's status.
func (b *browser) click(sel string) int64 {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel)))
	if err != nil {
		b.fatalf("click %s and wait for the next page: %v%s", sel, err, b.blockedBy())
	}
	return statusOf(resp)
}

// blockedBy explains a failed navigation by the page errors seen, such
// as a Content Security Policy violation.
func (b *browser) blockedBy() string {
	time.Sleep(200 * time.Millisecond) // console messages arrive asynchronously
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.problems) == 0 {
		return ""
	}
	msg := "\n  the browser reported: " + strings.Join(b.problems, "\n  ")
	b.problems = nil // reported here, not again at the end
	return msg
}

// clickHere clicks an element that changes the page without navigating.
func (b *browser) clickHere(sel string) {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(sel))); err != nil {
		b.fatalf("click %s: %v", sel, err)
	}
}

// fill types v into the input, replacing what it held.
func (b *browser) fill(sel, v string) {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	clear := chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector(%q).value = ""`, sel))
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(sel)), clear, chromedp.SendKeys(chromedp.CSS(sel), v)); err != nil {
		b.fatalf("type into %s: %v", sel, err)
	}
}

// text is the visible text of the first element matching sel.
func (b *browser) text(sel string) string {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel), chromedp.NodeVisible))
	if err != nil {
		b.fatalf("read %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

// waitVisible waits until the element is shown (scripts may unhide it).
func (b *browser) waitVisible(sel string) {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(sel))); err != nil {
		b.fatalf("%s did not become visible: %v", sel, err)
	}
}

// visible reports whether an element matching sel is shown now.
func (b *browser) visible(sel string) bool {
	b.t.Helper()
	return evalJS[bool](b, fmt.Sprintf(`(() => { const e = document.querySelector(%q); return !!e && e.checkVisibility({visibilityProperty: true, opacityProperty: true}) })()`, sel))
}

// texts returns the text of every element matching sel.
func (b *browser) texts(sel string) []string {
	b.t.Helper()
	return evalJS[[]string](b, fmt.Sprintf(`[...document.querySelectorAll(%q)].map(e => e.textContent.trim())`, sel))
}

func evalJS[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// location is the page's URL ("" when it cannot be read).
func (b *browser) location() string {
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	defer cancel()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return ""
	}
	return loc
}

// pageText is the start of the page's text, for failure messages.
func (b *browser) pageText() string {
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	if err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 600 {
		s = s[:600] + "…"
	}
	return s
}

func (b *browser) url() *url.URL {
	b.t.Helper()
	u, err := url.Parse(b.location())
	if err != nil {
		b.t.Fatal(err)
	}
	return u
}

// wantPage checks that the browser is on Portero's page at path.
func (b *browser) wantPage(path string) *url.URL {
	b.t.Helper()
	u := b.url()
	if got := u.Scheme + "://" + u.Host + u.Path; got != b.e.issuer+path {
		b.fatalf("expected Portero's %s", path)
	}
	b.checkPage()
	return u
}

// wantApp checks that the browser is back at the app's callback.
func (b *browser) wantApp() {
	b.t.Helper()
	u := b.url()
	u.RawQuery = ""
	if u.String() != b.e.app.callback() {
		b.fatalf("expected the app's callback %s", b.e.app.callback())
	}
}

// checkPage checks what every Portero page must have: the language asked
// for, its stylesheet, a translated title and no message key shown raw.
func (b *browser) checkPage() {
	b.t.Helper()
	type page struct {
		Lang   string `json:"lang"`
		Title  string `json:"title"`
		Sheets int    `json:"sheets"`
		Rules  int    `json:"rules"`
		Text   string `json:"text"`
	}
	p := evalJS[page](b, `(() => {
		let rules = 0;
		for (const s of document.styleSheets) { try { rules += s.cssRules.length } catch (e) {} }
		return {lang: document.documentElement.lang, title: document.title, sheets: document.styleSheets.length,
			rules: rules, text: document.body.innerText};
	})()`)
	if p.Lang != b.lang {
		b.t.Errorf("%s: <html lang=%q>, want %q", b.location(), p.Lang, b.lang)
	}
	if p.Sheets == 0 || p.Rules == 0 {
		b.t.Errorf("%s: the stylesheet did not load (%d sheets, %d rules)", b.location(), p.Sheets, p.Rules)
	}
	keys, err := catalogKeys()
	if err != nil {
		b.t.Fatal(err)
	}
	for _, s := range []string{p.Title, p.Text} {
		for _, tok := range keyLike.FindAllString(s, -1) {
			if keys[tok] {
				b.t.Errorf("%s: untranslated message key %q on the page", b.location(), tok)
			}
		}
	}
}

// screenshotDir is $PORTERO_ARTIFACTS_DIR/screenshots, or a temporary
// directory when the variable is not set (the images are then discarded).
func (b *browser) screenshotDir() string {
	b.t.Helper()
	root := os.Getenv(envArtifacts)
	if root == "" {
		return b.t.TempDir()
	}
	dir := filepath.Join(root, "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	return dir
}

// shot saves a full-page PNG of the current page as <name>.<lang>.png.
func (b *browser) shot(name string) {
	b.t.Helper()
	b.checkPage()
	ctx, cancel := b.step()
	defer cancel()
	// Let the page settle (focus ring of autofocus, scripts unhiding).
	_ = chromedp.Do(ctx, chromedp.Sleep(100*time.Millisecond))
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	file := filepath.Join(b.screenshotDir(), name+"."+b.lang+".png")
	if err := os.WriteFile(file, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// shotBoth saves the current page in both languages: as is, then reloaded
// in the other language (only for pages a GET shows), then back.
func (b *browser) shotBoth(name string) {
	b.t.Helper()
	b.shot(name)
	orig := b.lang
	for _, other := range []string{"es-CO", "en"} {
		if other == orig {
			continue
		}
		b.setLang(other)
		b.reload()
		b.shot(name)
	}
	b.setLang(orig)
	b.reload()
}

func (b *browser) reload() {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Reload()); err != nil {
		b.fatalf("reload: %v", err)
	}
}

// addAuthenticator attaches a virtual platform authenticator (CTAP2,
// resident keys, user verification that succeeds, presence simulated).
func (b *browser) addAuthenticator() {
	b.t.Helper()
	if _, err := chromedp.Call(b.ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		b.t.Fatalf("WebAuthn.enable: %v", err)
	}
	res, err := chromedp.Call(b.ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
		Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol:                    webauthn.AuthenticatorProtocolCtap2,
			Transport:                   webauthn.AuthenticatorTransportInternal,
			HasResidentKey:              true,
			HasUserVerification:         true,
			IsUserVerified:              true,
			AutomaticPresenceSimulation: true,
		},
	})
	if err != nil {
		b.t.Fatalf("add a virtual authenticator: %v", err)
	}
	b.authenticator = res.AuthenticatorID
}

// withoutPasskeyAutofill makes the pages see a browser without passkey
// autofill (conditional mediation), until the returned func is called.
// Chromium's virtual authenticator answers an autofill request at once,
// so without this the sign-in page signs in by itself before anything can
// be typed or clicked.
func (b *browser) withoutPasskeyAutofill() (restore func()) {
	b.t.Helper()
	res, err := chromedp.Call(b.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
		Source: `if (window.PublicKeyCredential) PublicKeyCredential.isConditionalMediationAvailable = () => Promise.resolve(false);`,
	})
	if err != nil {
		b.t.Fatal(err)
	}
	return func() {
		b.t.Helper()
		_, err := chromedp.Call(b.ctx, page.RemoveScriptToEvaluateOnNewDocument, page.RemoveScriptToEvaluateOnNewDocumentParams(res))
		if err != nil {
			b.t.Fatal(err)
		}
	}
}

// waitApp waits until the browser is back at the app's callback by
// itself (a script's navigation).
func (b *browser) waitApp() {
	b.t.Helper()
	deadline := time.Now().Add(stepTimeout)
	for {
		if u, err := url.Parse(b.location()); err == nil {
			u.RawQuery = ""
			if u.String() == b.e.app.callback() {
				return
			}
		}
		if time.Now().After(deadline) {
			b.fatalf("the browser did not come back to the app")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// credentials lists the virtual authenticator's credentials.
func (b *browser) credentials() []*webauthn.Credential {
	b.t.Helper()
	res, err := chromedp.Call(b.ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: b.authenticator})
	if err != nil {
		b.t.Fatal(err)
	}
	return res.Credentials
}

// signIn fills the sign-in form and submits it; it returns the status of
// the page it leads to.
func (b *browser) signIn(username, password string) int64 {
	b.t.Helper()
	b.fill("#username", username)
	b.fill("#password", password)
	return b.click("#login-form button[type=submit]")
}
