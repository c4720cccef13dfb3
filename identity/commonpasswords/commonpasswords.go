// Package commonpasswords tells whether a password is a commonly used or
// breached password, or a common (Spanish) word or name, as NIST SP 800-63B
// asks verifiers to check.
//
// The list is embedded as list.txt.gz (about 107,000 entries, 300 KB) and
// built by gen/gen.mjs from the MIT-licensed @zxcvbn-ts/language-common
// (its "passwords" dictionary) and @zxcvbn-ts/language-es-es (Spanish common
// words, first names, last names and Wikipedia words); see gen/README.md and
// the NOTICE file at the repository root. Entries are lower-case, NFC,
// at least 4 code points long, sorted and unique.
//
// The list is decompressed on first use into a single string plus a sorted
// offset table (about 1.4 MB of heap), and lookups are binary searches.
package commonpasswords

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"encoding/binary"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

//go:embed list.txt.gz
var listGz []byte

// MinBaseLength is the minimum length, in code points, of what remains of
// a password after its trailing digits and symbols are stripped for the
// suffix rule of Contains. It matches the shortest entry of the list.
const MinBaseLength = 4

// Contains reports whether password is on the list of common passwords and
// words, ignoring case (it compares the NFC, lower-cased form).
//
// It also reports true when the password is a listed entry followed only by
// digits, punctuation, symbols or spaces ("Password123!", "Colombia2024",
// "contraseña 1"): those trailing characters are stripped and the remaining
// base is looked up, provided the base is at least MinBaseLength code points
// long. Leading and trailing white space is ignored ("  password  "), but
// other leading characters are not stripped ("123password" is not matched).
func Contains(password string) bool {
	p := strings.TrimSpace(Normalize(password))
	l := load()
	if l.has(p) {
		return true
	}
	base := TrimSuffix(p)
	return len(base) < len(p) && utf8.RuneCountInString(base) >= MinBaseLength && l.has(base)
}

// Len returns the number of entries in the list. It loads the list if it is
// not loaded yet.
func Len() int {
	return load().len()
}

// Normalize returns s in the form the list is stored in: NFC, lower-cased,
// then NFC again (lower-casing can, rarely, leave a string that is not in
// NFC). It does not trim spaces.
func Normalize(s string) string {
	return norm.NFC.String(strings.ToLower(norm.NFC.String(s)))
}

// IsSuffixRune reports whether r is one of the characters the suffix rule
// strips: a number, punctuation, a symbol or a space.
func IsSuffixRune(r rune) bool {
	return unicode.IsNumber(r) || unicode.IsPunct(r) || unicode.IsSymbol(r) || unicode.IsSpace(r)
}

// TrimSuffix returns s without its trailing digits, punctuation, symbols and
// spaces (see IsSuffixRune).
func TrimSuffix(s string) string {
	return strings.TrimRightFunc(s, IsSuffixRune)
}

// list is every entry, each followed by '\n', in one string, with the start
// offset of each entry; off has one more element than there are entries, so
// entry i is data[off[i] : off[i+1]-1]. A string and a []uint32 cost about
// 1.4 MB for the whole list, against about 2.6 MB for a []string and more
// than 5 MB for a map.
type list struct {
	data string
	off  []uint32
}

var load = sync.OnceValue(func() *list {
	l, err := parse(listGz)
	if err != nil {
		// The list is embedded at build time; a broken one is a build bug.
		panic("commonpasswords: embedded list.txt.gz: " + err.Error())
	}
	return l
})

// maxListBytes bounds the inflated list (it is about 5 MiB).
const maxListBytes = 64 << 20

func parse(gz []byte) (*list, error) {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	if len(gz) >= 4 {
		// The gzip trailer holds the uncompressed size (mod 2^32).
		if n := binary.LittleEndian.Uint32(gz[len(gz)-4:]); n < maxListBytes {
			b.Grow(int(n))
		}
	}
	// Bounded: the offsets below are uint32, and a list that inflates
	// past the bound is not the one that was built.
	n, err := io.Copy(&b, io.LimitReader(zr, maxListBytes+1))
	if err != nil {
		return nil, err
	}
	if n > maxListBytes {
		return nil, fmt.Errorf("the list inflates past %d bytes", maxListBytes)
	}
	if err := zr.Close(); err != nil {
		return nil, err
	}
	data := b.String()
	if data != "" && !strings.HasSuffix(data, "\n") {
		data += "\n"
	}
	off := make([]uint32, 0, strings.Count(data, "\n")+1)
	for i := 0; i < len(data); {
		off = append(off, uint32(i)) // #nosec G115 -- i < len(data) <= maxListBytes
		i += strings.IndexByte(data[i:], '\n') + 1
	}
	off = append(off, uint32(len(data))) // #nosec G115 -- len(data) <= maxListBytes+1
	return &list{data: data, off: off}, nil
}

func (l *list) len() int { return len(l.off) - 1 }

func (l *list) at(i int) string { return l.data[l.off[i] : l.off[i+1]-1] }

func (l *list) has(s string) bool {
	n := l.len()
	i := sort.Search(n, func(i int) bool { return l.at(i) >= s })
	return i < n && l.at(i) == s
}
