// Package render writes Portero's HTML pages: the embedded templates, the
// security headers every page carries, and the one error page.
package render

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
)

// Renderer renders the page templates.
type Renderer struct {
	pages map[string]*template.Template
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
}

// New parses every page in fsys against the shared layout.
func New(fsys fs.FS, log *slog.Logger) (*Renderer, error) {
	names, err := fs.Glob(fsys, "*.html")
	if err != nil {
		return nil, err
	}
	r := &Renderer{pages: map[string]*template.Template{}, Log: log}
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
func (r *Renderer) SecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	if r.HSTS {
		h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
	}
}

// Render writes page name with status. Rendering happens into a buffer
// first, so a template failure becomes a clean 500, never half a page.
func (r *Renderer) Render(w http.ResponseWriter, req *http.Request, status int, name, title string, data any) {
	t, ok := r.pages[name]
	if !ok {
		r.Log.ErrorContext(req.Context(), "unknown page template", "page", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", Page{Lang: "es-CO", Title: title, Data: data}); err != nil {
		r.Log.ErrorContext(req.Context(), "render page", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	r.SecurityHeaders(w.Header())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// ErrorData is the error page's content.
type ErrorData struct {
	Message   string
	Code      string
	RequestID string
}

// Error renders the error page. message is shown to the user as is: never
// pass internal error text.
func (r *Renderer) Error(w http.ResponseWriter, req *http.Request, status int, code, message string) {
	var id string
	if r.RequestID != nil {
		id = r.RequestID(req)
	}
	title := "No pudimos continuar"
	if status >= 500 {
		title = "Algo salió mal"
	}
	r.Render(w, req, status, "error", title, ErrorData{Message: message, Code: code, RequestID: id})
}
