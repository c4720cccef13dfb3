package legal

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/portero-id/portero/identity"
)

func TestExampleSetLoads(t *testing.T) {
	set, err := Example(identity.MinorsRepresentative)
	if err != nil {
		t.Fatal(err)
	}
	if !identity.ValidNIT(set.Responsable.NIT) || len(set.Purposes) != 3 || len(set.Languages) != 2 {
		t.Fatalf("example set: %+v", set)
	}
	for _, lang := range set.Languages {
		if set.Policy.Texts[lang].SHA256 != identity.Digest(set.Policy.Texts[lang].Body) {
			t.Errorf("policy %s digest", lang)
		}
		html, err := HTML(set.Notice.Texts[lang])
		if err != nil || !strings.Contains(string(html), "<h1>") {
			t.Errorf("notice %s renders as %q (%v)", lang, html, err)
		}
	}
}

const goodYAML = `responsable: {name: "X S.A.S.", nit: "811007991-8", address: "Calle 1", email: "d@x.co", phone: "+57 1"}
languages: [es-CO]
policy: {version: "1", files: {es-CO: p.md}}
notice: {version: "1", files: {es-CO: n.html}}
purposes:
  - {id: account, version: "1", required: true, title: {es-CO: "Cuenta"}, description: {es-CO: "Para la cuenta"}}
`

func TestLoadRefusesIncompleteSets(t *testing.T) {
	files := func(yaml string) fstest.MapFS {
		return fstest.MapFS{"legal.yaml": {Data: []byte(yaml)}, "p.md": {Data: []byte("# P")}, "n.html": {Data: []byte("<p>N <script>x</script></p>")}}
	}
	set, err := load(files(goodYAML), "legal.yaml", identity.MinorsRefuse)
	if err != nil {
		t.Fatal(err)
	}
	// An HTML file is the operator's own text and is shown as written.
	if html, _ := HTML(set.Notice.Texts["es-CO"]); !strings.Contains(string(html), "<p>N") {
		t.Fatalf("html notice: %q", html)
	}
	// Raw HTML inside Markdown is not passed through.
	if html, _ := HTML(identity.NewLegalText("markdown", "hola <script>alert(1)</script>")); strings.Contains(string(html), "<script>") {
		t.Fatalf("markdown let a script through: %q", html)
	}
	for name, tc := range map[string]struct{ yaml, want string }{
		"bad NIT":            {strings.Replace(goodYAML, "811007991-8", "811007991-7", 1), "check digit"},
		"no phone":           {strings.Replace(goodYAML, `phone: "+57 1"`, `phone: ""`, 1), "responsable.phone"},
		"missing language":   {strings.Replace(goodYAML, "[es-CO]", "[es-CO, en]", 1), "lacks en"},
		"no required":        {strings.Replace(goodYAML, "required: true", "required: false", 1), "at least one must be required"},
		"duplicate purpose":  {goodYAML + `  - {id: account, version: "1", title: {es-CO: "A"}, description: {es-CO: "B"}}` + "\n", "used twice"},
		"unknown key":        {goodYAML + "extra: 1\n", "extra"},
		"missing file":       {strings.Replace(goodYAML, "p.md", "missing.md", 1), "missing.md"},
		"no policy version":  {strings.Replace(goodYAML, `policy: {version: "1"`, `policy: {version: ""`, 1), "policy.version"},
		"bad purpose id":     {strings.Replace(goodYAML, "id: account", "id: Account!", 1), "lower-case"},
		"txt is not allowed": {strings.Replace(goodYAML, "n.html", "n.txt", 1), "Markdown"},
	} {
		fsys := files(tc.yaml)
		fsys["n.txt"] = &fstest.MapFile{Data: []byte("n")}
		if _, err := load(fsys, "legal.yaml", identity.MinorsRefuse); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error mentioning %q", name, err, tc.want)
		}
	}
	if _, err := load(files(goodYAML), "legal.yaml", "sometimes"); err == nil {
		t.Error("an unknown minors policy was accepted")
	}
}
