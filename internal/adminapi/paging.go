package adminapi

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
)

// Paging.
const (
	defaultLimit = 50
	maxLimit     = 200
)

// page is a list response.
type page[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// pageOf builds a page from what a query with limit+1 returned: an item
// past limit only tells that there is more, and next gives the cursor
// after the last item shown.
func pageOf[T, V any](items []T, limit int, view func(*T) V, next func(last *T) cursor) page[V] {
	out := page[V]{Items: []V{}}
	for i := range items {
		if i == limit {
			out.NextCursor = next(&items[limit-1]).encode()
			break
		}
		out.Items = append(out.Items, view(&items[i]))
	}
	return out
}

// whole is a list that is never paged (roles, keys, a user's sessions:
// a few each).
func whole[T, V any](items []T, view func(*T) V) page[V] {
	return pageOf(items, len(items), view, nil)
}

// cursor is the opaque position after the last item of a page.
type cursor struct {
	ID       string `json:"i,omitempty"`
	Username string `json:"u,omitempty"`
	Seq      int64  `json:"s,omitempty"`
	Offset   int    `json:"o,omitempty"`
}

func (c cursor) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

var errCursor = errors.New("cursor is not one this API returned")

// paging reads cursor and limit; it answers and returns false when they
// are malformed.
func (a *API) paging(c *call) (cursor, int, bool) {
	var cur cursor
	q := c.r.URL.Query()
	limit := defaultLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLimit {
			a.problem(c.w, c.r, http.StatusBadRequest, "invalid-parameter", "Bad query parameter.", "limit must be an integer from 1 to 200")
			return cur, 0, false
		}
		limit = n
	}
	if v := q.Get("cursor"); v != "" {
		b, err := base64.RawURLEncoding.DecodeString(v)
		if err == nil {
			err = json.Unmarshal(b, &cur)
		}
		if err != nil || cur.Seq < 0 || cur.Offset < 0 {
			a.problem(c.w, c.r, http.StatusBadRequest, "invalid-parameter", "Bad query parameter.", errCursor.Error())
			return cur, 0, false
		}
	}
	return cur, limit, true
}
