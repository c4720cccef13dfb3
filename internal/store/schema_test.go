package store_test

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"

	"github.com/portero-id/portero/migrations"
)

// TestH9NoSensitiveDataInSchema: Portero collects no sensitive data (Ley
// 1581 art. 5) by default, and a passkey's biometric never reaches the
// server: no table has a column for biometrics, health, ethnicity,
// religion, politics or sexual life, and the passkey table keeps only the
// credential (id, public key, flags, counters) and a name.
func TestH9NoSensitiveDataInSchema(t *testing.T) {
	forbidden := regexp.MustCompile(`(?i)\b\w*(biometric|fingerprint|face|iris|voice|health|medical|ethnic|race|religion|political|sexual|union|disability)\w*\s+(TEXT|BLOB|BYTEA|BOOLEAN|INTEGER|BIGINT|DATE)`)
	files, err := fs.Glob(migrations.FS, "*/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("no migrations: %v", err)
	}
	for _, f := range files {
		b, _ := fs.ReadFile(migrations.FS, f)
		sql := stripComments(string(b))
		if m := forbidden.FindString(sql); m != "" {
			t.Errorf("%s declares a sensitive column: %q", f, m)
		}
		if i := strings.Index(sql, "CREATE TABLE webauthn_credentials"); i >= 0 {
			table := sql[i : i+strings.Index(sql[i:], ");")]
			for _, col := range regexp.MustCompile(`(?m)^\s+(\w+)\s`).FindAllStringSubmatch(table, -1) {
				switch col[1] {
				case "id", "user_id", "name", "credential", "created_at", "last_used_at":
				default:
					t.Errorf("%s: webauthn_credentials has an unexpected column %q", f, col[1])
				}
			}
		}
	}
}

func stripComments(sql string) string {
	var out []string
	for _, line := range strings.Split(sql, "\n") {
		if i := strings.Index(line, "--"); i >= 0 {
			line = line[:i]
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}
