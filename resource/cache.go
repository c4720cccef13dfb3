package resource

import (
	"container/list"
	"sync"
	"time"
)

// cache is a bounded LRU of introspection answers, keyed by the SHA-256
// digest of the token so that the token itself is never kept.
type cache struct {
	mu    sync.Mutex
	max   int
	order *list.List // of *cacheEntry, most recently used first
	byKey map[[32]byte]*list.Element
}

type cacheEntry struct {
	key     [32]byte
	claims  *Claims // nil for an inactive token
	err     error   // why the token is inactive
	expires time.Time
}

func newCache(max int) *cache {
	return &cache{max: max, order: list.New(), byKey: make(map[[32]byte]*list.Element, min(max, 1024))}
}

// get returns the live entry for key; ok is false on a miss.
func (c *cache) get(key [32]byte, now time.Time) (claims *Claims, err error, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, found := c.byKey[key]
	if !found {
		return nil, nil, false
	}
	e := el.Value.(*cacheEntry)
	if !now.Before(e.expires) {
		c.order.Remove(el)
		delete(c.byKey, key)
		return nil, nil, false
	}
	c.order.MoveToFront(el)
	return e.claims, e.err, true
}

// add stores an answer until expires, evicting the least recently used
// entries beyond the bound.
func (c *cache) add(key [32]byte, claims *Claims, err error, expires time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, found := c.byKey[key]; found {
		e := el.Value.(*cacheEntry)
		e.claims, e.err, e.expires = claims, err, expires
		c.order.MoveToFront(el)
		return
	}
	c.byKey[key] = c.order.PushFront(&cacheEntry{key: key, claims: claims, err: err, expires: expires})
	for c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.byKey, last.Value.(*cacheEntry).key)
	}
}

// len is the number of entries, live or not yet evicted.
func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
