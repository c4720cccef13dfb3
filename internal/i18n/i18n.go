// Package i18n picks a page language (es-CO by default, en when the
// browser prefers it or the user chose it) and looks up the pages' texts.
package i18n

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"slices"
	"strings"

	"golang.org/x/text/language"
)

// CookieName keeps the language chosen with the switcher.
const CookieName = "portero_lang"

// Bundle holds the catalogs, one per language; the first is the default.
type Bundle struct {
	langs    []string
	matcher  language.Matcher
	catalogs map[string]map[string]string
}

// Load reads every <lang>.json in fsys (a flat object of key → text).
// defaultLang comes first in negotiation, so it wins when nothing matches.
// Every catalog must have exactly the default catalog's keys: a missing
// translation is a start-up error, not a blank on a page.
func Load(fsys fs.FS, defaultLang string) (*Bundle, error) {
	names, err := fs.Glob(fsys, "*.json")
	if err != nil {
		return nil, err
	}
	b := &Bundle{catalogs: map[string]map[string]string{}}
	for _, n := range names {
		data, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, err
		}
		var cat map[string]string
		if err := json.Unmarshal(data, &cat); err != nil {
			return nil, fmt.Errorf("i18n: %s: %w", n, err)
		}
		b.catalogs[strings.TrimSuffix(path.Base(n), ".json")] = cat
	}
	def, ok := b.catalogs[defaultLang]
	if !ok {
		return nil, fmt.Errorf("i18n: no catalog for the default language %q", defaultLang)
	}
	b.langs = []string{defaultLang}
	for l := range b.catalogs {
		if l != defaultLang {
			b.langs = append(b.langs, l)
		}
	}
	slices.Sort(b.langs[1:])
	var tags []language.Tag
	for _, l := range b.langs {
		tag, err := language.Parse(l)
		if err != nil {
			return nil, fmt.Errorf("i18n: catalog name %q: %w", l, err)
		}
		tags = append(tags, tag)
		if l == defaultLang {
			continue
		}
		for k := range def {
			if _, ok := b.catalogs[l][k]; !ok {
				return nil, fmt.Errorf("i18n: %s lacks %q", l, k)
			}
		}
		for k := range b.catalogs[l] {
			if _, ok := def[k]; !ok {
				return nil, fmt.Errorf("i18n: %s has %q, which %s lacks", l, k, defaultLang)
			}
		}
	}
	b.matcher = language.NewMatcher(tags)
	return b, nil
}

// Languages lists the languages, the default first.
func (b *Bundle) Languages() []string { return slices.Clone(b.langs) }

// Supported reports whether lang has a catalog.
func (b *Bundle) Supported(lang string) bool { _, ok := b.catalogs[lang]; return ok }

// Negotiate picks the request's language: the switcher's cookie, else the
// best match for Accept-Language (any Spanish → es-CO, any English → en),
// else the default.
func (b *Bundle) Negotiate(r *http.Request) string {
	if c, err := r.Cookie(CookieName); err == nil && b.Supported(c.Value) {
		return c.Value
	}
	accept := r.Header.Get("Accept-Language")
	if accept == "" || len(accept) > 512 {
		return b.langs[0]
	}
	tags, _, err := language.ParseAcceptLanguage(accept)
	if err != nil || len(tags) == 0 {
		return b.langs[0]
	}
	_, i, conf := b.matcher.Match(tags...)
	if conf == language.No {
		return b.langs[0]
	}
	return b.langs[i]
}

// T returns the text for key in lang, formatted with args when given. An
// unknown key is returned as is, so that a free text (a protocol hint)
// can pass through the same call.
func (b *Bundle) T(lang, key string, args ...any) string {
	msg, ok := b.catalogs[lang][key]
	if !ok {
		if msg, ok = b.catalogs[b.langs[0]][key]; !ok {
			return key
		}
	}
	if len(args) > 0 {
		return fmt.Sprintf(msg, args...)
	}
	return msg
}

// Has reports whether key is in the catalogs.
func (b *Bundle) Has(key string) bool { _, ok := b.catalogs[b.langs[0]][key]; return ok }
