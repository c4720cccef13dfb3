package commonpasswords

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/base64"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestContainsKnownEntries(t *testing.T) {
	for _, pw := range []string{
		"password",   // passwords-common
		"123456789",  // passwords-common
		"qwertyuiop", // passwords-common
		"contraseña", // commonWords-es-es
		"murciélago", // commonWords-es-es
		"iñaki",      // firstnames-es-es
		"peñalver",   // lastnames-es-es
		"colombia",
	} {
		if !Contains(pw) {
			t.Errorf("Contains(%q) = false, want true", pw)
		}
	}
}

func TestContainsIgnoresCaseAndNormalisation(t *testing.T) {
	for _, pw := range []string{
		"PASSWORD",
		"PassWord",
		"CONTRASEÑA",
		"Iñaki",
		"IÑAKI",
		"contrasen\u0303a", // NFD: n + combining tilde
		"MURCIE\u0301LAGO", // NFD, upper case
	} {
		if !Contains(pw) {
			t.Errorf("Contains(%q) = false, want true", pw)
		}
	}
}

func TestContainsSuffixRule(t *testing.T) {
	for _, pw := range []string{
		"password123!",
		"Password1",
		"Colombia2024",
		"contraseña2024!!",
		"Contraseña 1",
		"Peñalver#1990",
		"iñaki.",
		"qwertyuiop_123",
		"password!@#$%^&*()",
		"Barcelona€€",
		"   password   ", // surrounding white space is ignored
		"\tPassword2024!\n",
	} {
		if !Contains(pw) {
			t.Errorf("Contains(%q) = false, want true (suffix rule)", pw)
		}
	}
}

func TestContainsNegatives(t *testing.T) {
	for _, pw := range []string{
		"",
		"tangerine-glacier-cobalt-fjord-41",
		"correct horse battery staple museum",
		"el murciélago toca el violonchelo",
		"123password", // only trailing characters are stripped
		"  123password  ",
		"contraseñacontraseña",    // repetition is not on the list
		"qz9",                     // shorter than any entry
		"!!!!!!!!!!!!!!!!!!!!!!!", // base is empty
	} {
		if Contains(pw) {
			t.Errorf("Contains(%q) = true, want false", pw)
		}
	}
	// Random passwords are practically never on the list.
	for range 100 {
		b := make([]byte, 12)
		rand.Read(b)
		pw := base64.RawURLEncoding.EncodeToString(b)
		if Contains(pw) {
			t.Errorf("Contains(%q) = true for a random password", pw)
		}
	}
}

func TestTrimSuffix(t *testing.T) {
	for in, want := range map[string]string{
		"password123!": "password",
		"abc":          "abc",
		"a b 1":        "a b",
		"2024":         "",
		"año²³":        "año",     // superscripts are numbers
		"1º":           "1º",      // º is a letter (Lo)
		"e\u0301":      "e\u0301", // combining marks are not stripped
	} {
		if got := TrimSuffix(in); got != want {
			t.Errorf("TrimSuffix(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestListInvariants checks that the embedded list is what gen.mjs promises
// and what has() relies on: sorted, unique and in the Go-normalised form
// (the generator normalises with JavaScript; this catches any difference).
func TestListInvariants(t *testing.T) {
	l := load()
	if n := Len(); n < 100000 {
		t.Fatalf("Len() = %d, want the full list (> 100000)", n)
	}
	prev := ""
	for i := range l.len() {
		e := l.at(i)
		if i > 0 && e <= prev {
			t.Fatalf("entry %d %q is not after %q", i, e, prev)
		}
		if !utf8.ValidString(e) || strings.ContainsAny(e, "\n\r") {
			t.Fatalf("entry %d %q is not one line of UTF-8", i, e)
		}
		if utf8.RuneCountInString(e) < MinBaseLength {
			t.Errorf("entry %d %q is shorter than %d", i, e, MinBaseLength)
		}
		if Normalize(e) != e {
			t.Errorf("entry %d %q is not normalised (%q)", i, e, Normalize(e))
		}
		if !l.has(e) {
			t.Errorf("has(%q) = false for entry %d", e, i)
		}
		prev = e
	}
}

func TestParse(t *testing.T) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte("abcd\nbcde\nzzzz")) // no final newline
	zw.Close()
	l, err := parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if l.len() != 3 || l.at(0) != "abcd" || l.at(2) != "zzzz" {
		t.Fatalf("parsed %d entries: %q", l.len(), l.data)
	}
	for _, s := range []string{"abcd", "bcde", "zzzz"} {
		if !l.has(s) {
			t.Errorf("has(%q) = false", s)
		}
	}
	for _, s := range []string{"", "abc", "abcde", "zzzzz", "a"} {
		if l.has(s) {
			t.Errorf("has(%q) = true", s)
		}
	}
	if _, err := parse([]byte("not gzip")); err == nil {
		t.Error("parse accepted data that is not gzip")
	}
}

// TestLoadCost logs the one-time cost of loading the list (go test -v -run LoadCost).
func TestLoadCost(t *testing.T) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	l, err := parse(listGz)
	elapsed := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(l)
	t.Logf("%d entries: load %v; retained heap %d bytes (string %d + offsets %d); embedded gzip %d bytes",
		l.len(), elapsed, int64(after.HeapAlloc)-int64(before.HeapAlloc), len(l.data), 4*cap(l.off), len(listGz))
}

var sink bool

func BenchmarkContains(b *testing.B) {
	load() // warm up: the one-time decompression is measured by BenchmarkLoad
	pws := []string{
		"password",                          // hit
		"Colombia2024!",                     // hit through the suffix rule
		"tangerine-glacier-cobalt-fjord-41", // miss
		"Contraseña segura de verdad 2024",  // miss, non-ASCII
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		sink = Contains(pws[i%len(pws)])
		i++
	}
}

func BenchmarkLoad(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parse(listGz); err != nil {
			b.Fatal(err)
		}
	}
}
