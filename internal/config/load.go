package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"
)

// Load returns the defaults, overridden by the YAML file at path (skipped
// when path is ""), overridden in turn by PORTERO_* variables in env (a
// slice of "KEY=value" strings such as os.Environ()).
//
// The file is strict: an unknown or repeated key is an error naming its key
// path and line. Its values may reference variables of env as ${VAR} or
// $VAR ($$ is a literal dollar); an undefined variable is an error naming
// it. An environment override whose value is empty is ignored.
//
// Load reports every problem at once, joined with errors.Join and each
// prefixed with its key path: unknown keys, unparsable values and every rule
// of Validate that does not depend on the mode. The mode-dependent rules (a
// system secret is required, an http issuer needs dev mode) are left to
// Validate, to be called after PrepareDev in dev mode.
func Load(path string, env []string) (*Config, error) {
	c := Defaults()
	c.sources = map[string]string{}
	vars := envMap(env)
	var errs []error
	if path != "" {
		errs = append(errs, c.decodeFile(path, vars)...)
	}
	errs = append(errs, c.applyEnv(vars)...)
	errs = append(errs, c.check(true, false)...)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}

// EnvName returns the environment variable that overrides the key path,
// e.g. "oauth.refresh_grace_period" -> "PORTERO_OAUTH_REFRESH_GRACE_PERIOD".
func EnvName(keyPath string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(keyPath, ".", "_"))
}

// EnvNames lists every environment variable that sets a key.
func EnvNames() []string {
	var out []string
	for _, l := range leaves() {
		out = append(out, l.env)
	}
	return out
}

// leaf is one configurable value: a non-struct field reached from Config
// through yaml-tagged fields.
type leaf struct {
	path  string // key path, e.g. "http.address"
	env   string // EnvName(path)
	index []int  // reflect.Value.FieldByIndex from Config
	typ   reflect.Type
}

var durationType = reflect.TypeFor[time.Duration]()

// leaves lists every leaf of Config, found once by reflecting over the yaml
// tags; it panics on a field without a yaml tag or of an unsupported type,
// which the tests catch.
var leaves = sync.OnceValue(func() []leaf {
	return collectLeaves(reflect.TypeFor[Config](), "", nil)
})

func collectLeaves(t reflect.Type, prefix string, index []int) []leaf {
	var out []leaf
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name := yamlName(f)
		if name == "" {
			panic(fmt.Sprintf("config: field %s.%s has no yaml tag", t.Name(), f.Name))
		}
		path := prefix + name
		idx := append(append([]int(nil), index...), i)
		if f.Type.Kind() == reflect.Struct && f.Type != durationType {
			out = append(out, collectLeaves(f.Type, path+".", idx)...)
			continue
		}
		if !supported(f.Type) {
			panic(fmt.Sprintf("config: field %s.%s has unsupported type %s", t.Name(), f.Name, f.Type))
		}
		out = append(out, leaf{path: path, env: EnvName(path), index: idx, typ: f.Type})
	}
	return out
}

func yamlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" {
		return ""
	}
	return name
}

func supported(t reflect.Type) bool {
	switch {
	case t == durationType:
		return true
	case t.Kind() == reflect.Slice:
		return t.Elem().Kind() == reflect.String
	}
	switch t.Kind() {
	case reflect.String, reflect.Bool, reflect.Int:
		return true
	}
	return false
}

// setValue parses s into v, one of the supported types. Its errors never
// quote string values, which may be secrets.
func setValue(v reflect.Value, s string) error {
	switch {
	case v.Type() == durationType:
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("%q is not a duration (use a unit: 90s, 15m, 720h)", s)
		}
		v.SetInt(int64(d))
		return nil
	case v.Kind() == reflect.Slice:
		v.Set(reflect.ValueOf(splitList(s)))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("%q is not a boolean (true or false)", s)
		}
		v.SetBool(b)
	case reflect.Int:
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, strconv.IntSize)
		if err != nil {
			return fmt.Errorf("%q is not an integer", s)
		}
		v.SetInt(n)
	default:
		panic("config: unsupported type " + v.Type().String())
	}
	return nil
}

// splitList splits a comma-separated list, trimming spaces and dropping
// empty items.
func splitList(s string) []string {
	out := []string{}
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// envMap turns "KEY=value" entries into a map; a later entry wins, as in
// os/exec. Entries without "=" are ignored.
func envMap(env []string) map[string]string {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k != "" {
			m[k] = v
		}
	}
	return m
}

// applyEnv applies the PORTERO_* overrides present and non-empty in vars.
func (c *Config) applyEnv(vars map[string]string) []error {
	var errs []error
	root := reflect.ValueOf(c).Elem()
	for _, l := range leaves() {
		s, ok := vars[l.env]
		if !ok || s == "" {
			continue
		}
		if err := setValue(root.FieldByIndex(l.index), s); err != nil {
			errs = append(errs, fmt.Errorf("%s: %s: %v", l.path, l.env, err))
			continue
		}
		c.setSource(l.path, "env "+l.env)
	}
	return errs
}

func (c *Config) setSource(path, source string) {
	if c.sources == nil {
		c.sources = map[string]string{}
	}
	c.sources[path] = source
}

// decodeFile applies the YAML file at path to c.
func (c *Config) decodeFile(path string, vars map[string]string) []error {
	data, err := os.ReadFile(path) // #nosec G304 -- the operator's --config file
	if err != nil {
		return []error{fmt.Errorf("config file: %w", err)}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // an empty file: defaults
		}
		return []error{fmt.Errorf("%s: %w", path, err)}
	}
	var errs []error
	if err := dec.Decode(new(yaml.Node)); !errors.Is(err, io.EOF) {
		errs = append(errs, fmt.Errorf("%s: holds more than one YAML document", path))
	}
	d := &fileDecoder{file: path, vars: vars, c: c}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if isNull(root) {
		return errs // only comments: defaults
	}
	d.mapping(root, reflect.ValueOf(c).Elem(), "")
	return append(errs, d.errs...)
}

// fileDecoder walks the YAML node tree along Config's yaml tags. Walking the
// nodes ourselves, rather than yaml's Decoder.KnownFields(true) which stops
// at the first error and names the Go type, lets every unknown key be
// reported by key path and line together with every bad value, and lets
// ${VAR} be expanded in every value before it is parsed.
type fileDecoder struct {
	file string
	vars map[string]string
	c    *Config
	errs []error
}

func (d *fileDecoder) errorf(path string, n *yaml.Node, format string, args ...any) {
	if path == "" {
		path = "(top level)"
	}
	d.errs = append(d.errs, fmt.Errorf("%s: %s (%s:%d)", path, fmt.Sprintf(format, args...), d.file, n.Line))
}

func (d *fileDecoder) mapping(n *yaml.Node, v reflect.Value, prefix string) {
	n = deref(n)
	if isNull(n) {
		return // "http:" with nothing under it keeps the defaults
	}
	path := strings.TrimSuffix(prefix, ".")
	if n.Kind != yaml.MappingNode {
		d.errorf(path, n, "expected a mapping of keys, got %s", kindName(n))
		return
	}
	fields := map[string]int{}
	for i := range v.NumField() {
		if f := v.Type().Field(i); f.IsExported() {
			fields[yamlName(f)] = i
		}
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := deref(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errorf(path, k, "keys must be plain names, got %s", kindName(k))
			continue
		}
		key := prefix + k.Value
		idx, ok := fields[k.Value]
		if !ok {
			d.errorf(key, k, "unknown key%s", suggest(prefix, k.Value))
			continue
		}
		if line, dup := seen[k.Value]; dup {
			d.errorf(key, k, "repeats the key already set on line %d", line)
			continue
		}
		seen[k.Value] = k.Line
		fv := v.Field(idx)
		if fv.Kind() == reflect.Struct && fv.Type() != durationType {
			d.mapping(val, fv, key+".")
			continue
		}
		d.leaf(val, fv, key)
	}
}

func (d *fileDecoder) leaf(n *yaml.Node, v reflect.Value, path string) {
	n = deref(n)
	if v.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode {
		items := []string{}
		ok := true
		for _, item := range n.Content {
			item = deref(item)
			if item.Kind != yaml.ScalarNode {
				d.errorf(path, item, "list items must be single values, got %s", kindName(item))
				ok = false
				continue
			}
			s, good := d.expand(item, path)
			ok = ok && good
			items = append(items, s)
		}
		if ok {
			v.Set(reflect.ValueOf(items))
			d.c.setSource(path, fmt.Sprintf("%s:%d", d.file, n.Line))
		}
		return
	}
	if n.Kind != yaml.ScalarNode {
		want := "a single value"
		if v.Kind() == reflect.Slice {
			want = "a list"
		}
		d.errorf(path, n, "expected %s, got %s", want, kindName(n))
		return
	}
	if isNull(n) {
		// "key:" with no value (or null, ~) is the zero value, as in
		// yaml.Unmarshal; validation then says what is wrong with it.
		v.SetZero()
		if v.Kind() == reflect.Slice {
			v.Set(reflect.ValueOf([]string{}))
		}
		d.c.setSource(path, fmt.Sprintf("%s:%d", d.file, n.Line))
		return
	}
	s, ok := d.expand(n, path)
	if !ok {
		return
	}
	if err := setValue(v, s); err != nil {
		d.errorf(path, n, "%v", err)
		return
	}
	d.c.setSource(path, fmt.Sprintf("%s:%d", d.file, n.Line))
}

// expand expands the variables in a scalar's value, reporting every
// undefined variable or bad use of $.
func (d *fileDecoder) expand(n *yaml.Node, path string) (string, bool) {
	s, undefined, err := expand(n.Value, func(name string) (string, bool) {
		v, ok := d.vars[name]
		return v, ok
	})
	for _, name := range undefined {
		d.errorf(path, n, "undefined environment variable %s", name)
	}
	if err != nil {
		d.errorf(path, n, "%v", err)
	}
	return s, len(undefined) == 0 && err == nil
}

// expand replaces ${NAME} and $NAME in s with lookup's values, and $$ with
// a single $, like os.Expand; unlike os.Expand it reports undefined names
// and any $ not followed by $, { or a name, instead of dropping them.
func expand(s string, lookup func(string) (string, bool)) (out string, undefined []string, err error) {
	if !strings.Contains(s, "$") {
		return s, nil, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' {
			b.WriteByte(s[i])
			continue
		}
		var name string
		switch {
		case i+1 < len(s) && s[i+1] == '$':
			b.WriteByte('$')
			i++
			continue
		case i+1 < len(s) && s[i+1] == '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				return "", undefined, errors.New("unterminated ${ (write $$ for a literal dollar)")
			}
			name = s[i+2 : i+2+end]
			if !isName(name) {
				return "", undefined, fmt.Errorf("invalid variable name %q in ${...}", name)
			}
			i += 2 + end
		case i+1 < len(s) && isNameStart(s[i+1]):
			j := i + 1
			for j < len(s) && isNameByte(s[j]) {
				j++
			}
			name = s[i+1 : j]
			i = j - 1
		default:
			return "", undefined, errors.New("a $ must start ${VAR} or $VAR (write $$ for a literal dollar)")
		}
		v, ok := lookup(name)
		if !ok {
			undefined = append(undefined, name)
			continue
		}
		b.WriteString(v)
	}
	return b.String(), undefined, nil
}

func isName(s string) bool {
	if s == "" || !isNameStart(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isNameByte(s[i]) {
			return false
		}
	}
	return true
}

func isNameStart(c byte) bool {
	return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

func isNameByte(c byte) bool { return isNameStart(c) || '0' <= c && c <= '9' }

func deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("the value %q", n.Value)
	}
	return "something else"
}

// suggest returns ", did you mean X?" for a misspelt key: a key of the same
// mapping within two edits, or a key of that name elsewhere.
func suggest(prefix, key string) string {
	best, bestDist := "", 3
	var elsewhere string
	for _, l := range leaves() {
		for p := l.path; ; {
			parent, name := "", p
			if i := strings.LastIndexByte(p, '.'); i >= 0 {
				parent, name = p[:i+1], p[i+1:]
			}
			if parent == prefix {
				if dist := editDistance(key, name); dist < bestDist {
					best, bestDist = p, dist
				}
			} else if name == key && elsewhere == "" {
				elsewhere = p
			}
			if parent == "" {
				break
			}
			p = strings.TrimSuffix(parent, ".")
		}
	}
	switch {
	case best != "":
		return ", did you mean " + best + "?"
	case elsewhere != "":
		return ", did you mean " + elsewhere + "?"
	}
	return ""
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
