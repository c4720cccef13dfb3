// Package legal loads the habeas-data configuration (the responsable, the
// treatment policy, the privacy notice, the purposes and the processors)
// from a YAML file and the text files it names, and renders the texts.
// identity.LegalSet is what it produces; the rules about consent live in
// identity.
package legal

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/yuin/goldmark"
	"gopkg.in/yaml.v3"

	"github.com/portero-id/portero/identity"
)

// file is the legal YAML file's shape.
type file struct {
	Responsable identity.Responsable `yaml:"responsable"`
	Languages   []string             `yaml:"languages"`
	Policy      document             `yaml:"policy"`
	Notice      document             `yaml:"notice"`
	Purposes    []purpose            `yaml:"purposes"`
	Processors  []processor          `yaml:"processors"`
}

type document struct {
	Version string            `yaml:"version"`
	Files   map[string]string `yaml:"files"`
}

type purpose struct {
	ID          string            `yaml:"id"`
	Version     string            `yaml:"version"`
	Required    bool              `yaml:"required"`
	Sensitive   bool              `yaml:"sensitive"`
	Title       map[string]string `yaml:"title"`
	Description map[string]string `yaml:"description"`
	Scopes      []string          `yaml:"scopes"`
}

type processor struct {
	Name    string            `yaml:"name"`
	Country string            `yaml:"country"`
	Purpose map[string]string `yaml:"purpose"`
}

//go:embed example
var example embed.FS

// Example is the development set: a fictional company, a sample policy and
// notice, three purposes. serve --dev uses it when no legal.file is set.
func Example(minors string) (*identity.LegalSet, error) {
	sub, err := fs.Sub(example, "example")
	if err != nil {
		return nil, err
	}
	return load(sub, "legal.yaml", minors)
}

// Load reads the legal file at path; the text files it names are relative
// to its directory.
func Load(filePath, minors string) (*identity.LegalSet, error) {
	return load(os.DirFS(filepath.Dir(filePath)), filepath.Base(filePath), minors)
}

var purposeID = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,63}$`)

func load(fsys fs.FS, name, minors string) (*identity.LegalSet, error) {
	raw, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, fmt.Errorf("legal: %w", err)
	}
	var f file
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("legal: %s: %w", name, err)
	}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("legal: "+format, args...)) }

	r := f.Responsable
	for _, f := range []struct{ name, value string }{{"name", r.Name}, {"nit", r.NIT}, {"address", r.Address}, {"email", r.Email}, {"phone", r.Phone}} {
		if strings.TrimSpace(f.value) == "" {
			bad("responsable.%s is required (Ley 1581 art. 12, Decreto 1377 art. 15)", f.name)
		}
	}
	if r.NIT != "" && !identity.ValidNIT(r.NIT) {
		bad("responsable.nit %q: the check digit (DV) does not match", r.NIT)
	}
	if len(f.Languages) == 0 {
		bad("languages: list at least one, the default first")
	}
	set := &identity.LegalSet{Responsable: r, Languages: f.Languages, Minors: minors}
	readDoc := func(kind string, d document) identity.LegalDocument {
		out := identity.LegalDocument{Kind: kind, Version: d.Version, Texts: map[string]identity.LegalText{}}
		if strings.TrimSpace(d.Version) == "" {
			bad("%s.version is required", kind)
		}
		for _, lang := range f.Languages {
			p, ok := d.Files[lang]
			if !ok {
				bad("%s.files lacks %s", kind, lang)
				continue
			}
			body, err := fs.ReadFile(fsys, path.Clean(filepath.ToSlash(p)))
			if err != nil {
				bad("%s.files.%s: %v", kind, lang, err)
				continue
			}
			format := "markdown"
			if ext := strings.ToLower(path.Ext(p)); ext == ".html" || ext == ".htm" {
				format = "html"
			} else if ext != ".md" && ext != ".markdown" {
				bad("%s.files.%s: %q must be Markdown (.md) or HTML (.html)", kind, lang, p)
			}
			out.Texts[lang] = identity.NewLegalText(format, string(body))
		}
		return out
	}
	set.Policy = readDoc(identity.LegalPolicy, f.Policy)
	set.Notice = readDoc(identity.LegalNotice, f.Notice)

	required := false
	for i, p := range f.Purposes {
		where := fmt.Sprintf("purposes[%d]", i)
		if !purposeID.MatchString(p.ID) {
			bad("%s.id %q must be 1-64 lower-case letters, digits, '_' or '-'", where, p.ID)
		}
		if slices.ContainsFunc(set.Purposes, func(q identity.Purpose) bool { return q.ID == p.ID }) {
			bad("%s.id %q is used twice", where, p.ID)
		}
		if strings.TrimSpace(p.Version) == "" {
			bad("%s.version is required", where)
		}
		for _, lang := range f.Languages {
			if strings.TrimSpace(p.Title[lang]) == "" || strings.TrimSpace(p.Description[lang]) == "" {
				bad("%s needs a title and a description in %s", where, lang)
			}
		}
		required = required || p.Required
		set.Purposes = append(set.Purposes, identity.Purpose{ID: p.ID, Version: p.Version, Required: p.Required, Sensitive: p.Sensitive,
			Title: p.Title, Description: p.Description, Scopes: p.Scopes})
	}
	if !required {
		bad("purposes: at least one must be required (the one that makes the account possible)")
	}
	for i, p := range f.Processors {
		if p.Name == "" || p.Country == "" {
			bad("processors[%d] needs a name and a country", i)
		}
		set.Processors = append(set.Processors, identity.Processor{Name: p.Name, Country: p.Country, Purpose: p.Purpose})
	}
	if minors != identity.MinorsRepresentative && minors != identity.MinorsRefuse {
		bad("minors policy %q must be %q or %q", minors, identity.MinorsRepresentative, identity.MinorsRefuse)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return set, nil
}

var markdown = goldmark.New() // raw HTML in Markdown is escaped (goldmark's default)

// HTML renders a text for a page. Markdown is converted; an HTML file is
// the operator's own configuration and is shown as written.
func HTML(t identity.LegalText) (template.HTML, error) {
	if t.Format == "html" {
		return template.HTML(t.Body), nil // #nosec G203 -- the operator's own legal text (configuration), not user input
	}
	var buf bytes.Buffer
	if err := markdown.Convert([]byte(t.Body), &buf); err != nil {
		return "", err
	}
	return template.HTML(buf.String()), nil // #nosec G203 -- goldmark output of the operator's text; raw HTML in it is escaped
}
