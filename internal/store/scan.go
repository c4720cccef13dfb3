package store

import (
	"encoding/json"
	"fmt"
	"time"
)

// sqliteTime is how times are written on SQLite: fixed-width UTC text with
// microseconds, so that comparing the text compares the times. The driver
// parses it back into a time.Time for DATETIME columns.
const sqliteTime = "2006-01-02 15:04:05.000000-07:00"

// timeArg converts t into the statement argument stored for it: UTC,
// truncated to microseconds (PostgreSQL would round), as text on SQLite.
func (s *Store) timeArg(t time.Time) any {
	t = t.UTC().Truncate(time.Microsecond)
	if s.dialect == DialectSQLite {
		return t.Format(sqliteTime)
	}
	return t
}

// nullTimeArg is timeArg with the zero time stored as NULL.
func (s *Store) nullTimeArg(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return s.timeArg(t)
}

// nullTimePtrArg is timeArg with nil stored as NULL.
func (s *Store) nullTimePtrArg(t *time.Time) any {
	if t == nil {
		return nil
	}
	return s.timeArg(*t)
}

// dbTime scans a time column, NULL included, whatever form the driver hands
// over (time.Time from pgx and from SQLite DATETIME columns; text when SQLite
// loses the declared type, e.g. through a subquery).
type dbTime struct {
	Time  time.Time
	Valid bool
}

var timeLayouts = []string{
	"2006-01-02 15:04:05.999999999-07:00",
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999",
}

func (d *dbTime) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*d = dbTime{}
		return nil
	case time.Time:
		*d = dbTime{Time: x.UTC(), Valid: true}
		return nil
	case []byte:
		return d.parse(string(x))
	case string:
		return d.parse(x)
	}
	return fmt.Errorf("store: cannot scan %T into a time", v)
}

func (d *dbTime) parse(s string) error {
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			*d = dbTime{Time: t.UTC(), Valid: true}
			return nil
		}
	}
	return fmt.Errorf("store: cannot parse time %q", s)
}

// ptr returns the time, or nil for NULL.
func (d dbTime) ptr() *time.Time {
	if !d.Valid {
		return nil
	}
	t := d.Time
	return &t
}

// listArg encodes a string list as the JSON array stored in list columns.
func listArg(l []string) string {
	if len(l) == 0 {
		return "[]"
	}
	b, err := json.Marshal(l)
	if err != nil { // cannot happen for []string
		panic(err)
	}
	return string(b)
}

// dbList scans a JSON array column; an empty array scans as nil.
type dbList []string

func (l *dbList) Scan(v any) error {
	var b []byte
	switch x := v.(type) {
	case nil:
		*l = nil
		return nil
	case string:
		b = []byte(x)
	case []byte:
		b = x
	default:
		return fmt.Errorf("store: cannot scan %T into a list", v)
	}
	var out []string
	if err := json.Unmarshal(b, &out); err != nil {
		return fmt.Errorf("store: malformed list column: %w", err)
	}
	if len(out) == 0 {
		out = nil
	}
	*l = out
	return nil
}

// dbBytes scans a nullable blob; NULL and empty scan as nil, and the bytes
// are copied (the driver may reuse its buffer).
type dbBytes []byte

func (b *dbBytes) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*b = nil
	case []byte:
		if len(x) == 0 {
			*b = nil
		} else {
			*b = append([]byte(nil), x...)
		}
	case string:
		if x == "" {
			*b = nil
		} else {
			*b = []byte(x)
		}
	default:
		return fmt.Errorf("store: cannot scan %T into bytes", v)
	}
	return nil
}

// bytesArg stores empty byte slices as NULL.
func bytesArg(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// blobArg stores nil as an empty blob, for NOT NULL blob columns.
func blobArg(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
