// Package render writes Portero's HTML pages: the embedded templates, the
// security headers every page carries, and the one error page.
package render

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/portero-id/portero/identity"
	"github.com/portero-id/portero/internal/i18n"
)

// Renderer renders the page templates in the request's language.
type Renderer struct {
	pages map[string]*template.Template
	texts *i18n.Bundle
	// HSTS adds Strict-Transport-Security (when the issuer is https).
	HSTS bool
	Log  *slog.Logger
	// RequestID extracts the request id shown on error pages.
	RequestID func(*http.Request) string
}

// Page is the data every template receives.
type Page struct {
	Lang  string
	Title string
	Data  any
	// Path is the page's own path, where the language switcher returns.
	Path  string
	Langs []string
	texts *i18n.Bundle
}

// T is the page's text for key in its language ({{.T "key"}}, or {{$.T
// "key"}} inside range and with).
func (p Page) T(key string, args ...any) string { return p.texts.T(p.Lang, key, args...) }

// New parses every page in fsys against the shared layout; texts holds the
// translations.
func New(fsys fs.FS, texts *i18n.Bundle, log *slog.Logger) (*Renderer, error) {
	names, err := fs.Glob(fsys, "*.html")
	if err != nil {
		return nil, err
	}
	r := &Renderer{pages: map[string]*template.Template{}, texts: texts, Log: log}
	for _, n := range names {
		if n == "layout.html" {
			continue
		}
		t, err := template.New("").ParseFS(fsys, "layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", n, err)
		}
		r.pages[strings.TrimSuffix(n, ".html")] = t
	}
	return r, nil
}

// SecurityHeaders sets the headers every HTML page carries: a strict CSP
// with no inline script or style, no framing, no referrer, no caching.
// There is no form-action directive: Chromium applies it to every redirect
// that follows a form post, and a sign-in form's post ends in a redirect
// to the client's redirect URI, on another origin.
func (r *Renderer) SecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	if r.HSTS {
		h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
	}
}

// Lang is the language of the request's pages.
func (r *Renderer) Lang(req *http.Request) string { return r.texts.Negotiate(req) }

// T is the text for key in lang.
func (r *Renderer) T(lang, key string, args ...any) string { return r.texts.T(lang, key, args...) }

// Key names the message for a value of a closed vocabulary: prefix + "." +
// value ("requests.status" and "answered" give "requests.status.answered");
// "" for an empty value, so that a template's {{with}} skips it.
func Key(prefix, value string) string {
	if value == "" {
		return ""
	}
	return prefix + "." + value
}

// Has reports whether the catalogs have key.
func (r *Renderer) Has(key string) bool { return r.texts.Has(key) }

// Supports reports whether lang has translations.
func (r *Renderer) Supports(lang string) bool { return r.texts.Supported(lang) }

// Render writes page name with status, titled by the text "<name>.title".
// Rendering happens into a buffer first, so a template failure becomes a
// clean 500, never half a page.
func (r *Renderer) Render(w http.ResponseWriter, req *http.Request, status int, name string, data any) {
	lang := r.texts.Negotiate(req)
	r.render(w, req, status, name, Page{Lang: lang, Title: r.texts.T(lang, name+".title"), Data: data})
}

func (r *Renderer) render(w http.ResponseWriter, req *http.Request, status int, name string, page Page) {
	t, ok := r.pages[name]
	if !ok {
		r.Log.ErrorContext(req.Context(), "unknown page template", "page", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	page.texts, page.Langs, page.Path = r.texts, r.texts.Languages(), returnPath(req)
	if err := t.ExecuteTemplate(&buf, "layout", page); err != nil {
		r.Log.ErrorContext(req.Context(), "render page", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	r.SecurityHeaders(w.Header())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Language", page.Lang)
	w.Header().Add("Vary", "Accept-Language, Cookie")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// ErrorData is the error page's content.
type ErrorData struct {
	Message   string
	Detail    string
	Code      string
	RequestID string
}

// Error renders the error page with the text of messageKey. Never pass
// internal error text.
func (r *Renderer) Error(w http.ResponseWriter, req *http.Request, status int, code, messageKey string) {
	r.ErrorDetail(w, req, status, code, messageKey, "")
}

// Failure is the page for an unexpected error: 503 with Retry-After when
// the storage failed (identity.ErrUnavailable: the user can try again in a
// moment), 500 otherwise. The caller has logged err.
func (r *Renderer) Failure(w http.ResponseWriter, req *http.Request, err error) {
	if errors.Is(err, identity.ErrUnavailable) {
		w.Header().Set("Retry-After", RetryAfter)
		r.Error(w, req, http.StatusServiceUnavailable, "temporarily_unavailable", "error.unavailable")
		return
	}
	r.Error(w, req, http.StatusInternalServerError, "server_error", "error.server")
}

// RetryAfter is the Retry-After, in seconds, of every outage answer: long
// enough not to hammer a recovering database, short enough for a failover.
const RetryAfter = "5"

// ErrorDetail is Error with a detail shown as is (a protocol error's
// description, which the client developer needs).
func (r *Renderer) ErrorDetail(w http.ResponseWriter, req *http.Request, status int, code, messageKey, detail string) {
	var id string
	if r.RequestID != nil {
		id = r.RequestID(req)
	}
	lang := r.texts.Negotiate(req)
	title := r.texts.T(lang, "error.title")
	if status >= 500 {
		title = r.texts.T(lang, "error.title_server")
	}
	r.render(w, req, status, "error", Page{Lang: lang, Title: title,
		Data: ErrorData{Message: r.texts.T(lang, messageKey), Detail: detail, Code: code, RequestID: id}})
}

// returnPath is where the language switcher brings the browser back: the
// page itself, with its query for a GET, and with the sign-in flow it
// belongs to for a page answering a POST, so that switching language in
// the middle of a client's sign-in does not lose the client.
func returnPath(req *http.Request) string {
	if req.Method == http.MethodGet || req.Method == http.MethodHead {
		return req.URL.RequestURI()
	}
	if flow := req.PostForm.Get("flow"); flow != "" { // parsed by the handler, if at all
		return req.URL.Path + "?flow=" + url.QueryEscape(flow)
	}
	return req.URL.Path
}
