package seal

import (
	"bytes"
	"errors"
	"testing"
)

func TestSealOpenAndRotation(t *testing.T) {
	old, err := New("totp", []byte("old-secret-0123456789abcdefghijklmn"))
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := old.Seal([]byte("JBSWY3DPEHPK3PXP"), []byte("user-1"))
	if err != nil {
		t.Fatal(err)
	}
	rotated, _ := New("totp", []byte("new-secret-0123456789abcdefghijklmn"), []byte("old-secret-0123456789abcdefghijklmn"))
	got, err := rotated.Open(sealed, []byte("user-1"))
	if err != nil || !bytes.Equal(got, []byte("JBSWY3DPEHPK3PXP")) {
		t.Fatalf("open after rotation: %q, %v", got, err)
	}
	for name, tc := range map[string]struct {
		box    *Box
		sealed []byte
		ad     string
	}{
		"other associated data": {rotated, sealed, "user-2"},
		"tampered":              {rotated, append(append([]byte{}, sealed[:len(sealed)-1]...), sealed[len(sealed)-1]^1), "user-1"},
		"truncated":             {rotated, sealed[:5], "user-1"},
		"secret dropped":        {must(New("totp", []byte("new-secret-0123456789abcdefghijklmn"))), sealed, "user-1"},
		"other purpose":         {must(New("recovery", []byte("old-secret-0123456789abcdefghijklmn"))), sealed, "user-1"},
	} {
		if _, err := tc.box.Open(tc.sealed, []byte(tc.ad)); !errors.Is(err, ErrOpen) {
			t.Errorf("%s: err = %v, want ErrOpen", name, err)
		}
	}
}

func must(b *Box, err error) *Box {
	if err != nil {
		panic(err)
	}
	return b
}

func TestResealMovesValuesToTheCurrentSecret(t *testing.T) {
	oldSecret, newSecret := []byte("old-secret-0123456789abcdefghijklmn"), []byte("new-secret-0123456789abcdefghijklmn")
	sealed, _ := must(New("totp", oldSecret)).Seal([]byte("JBSWY3DPEHPK3PXP"), []byte("user-1"))
	rotating := must(New("totp", newSecret, oldSecret))

	out, changed, err := rotating.Reseal(sealed, []byte("user-1"))
	if err != nil || !changed || bytes.Equal(out, sealed) {
		t.Fatalf("reseal of an old value: changed %v, err %v", changed, err)
	}
	// After the old secret is dropped the resealed value still opens.
	got, err := must(New("totp", newSecret)).Open(out, []byte("user-1"))
	if err != nil || string(got) != "JBSWY3DPEHPK3PXP" {
		t.Fatalf("open with the new secret alone: %q, %v", got, err)
	}
	again, changed, err := rotating.Reseal(out, []byte("user-1"))
	if err != nil || changed || !bytes.Equal(again, out) {
		t.Fatalf("reseal of a current value: changed %v, err %v", changed, err)
	}
	if _, _, err := rotating.Reseal(out, []byte("user-2")); !errors.Is(err, ErrOpen) {
		t.Fatalf("reseal with other associated data: %v, want ErrOpen", err)
	}
}
