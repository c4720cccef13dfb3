package throttle

import (
	"container/list"
	"context"
	"sync"
	"time"
)

// DefaultMaxKeys is the bound NewMemory uses when given maxKeys <= 0.
const DefaultMaxKeys = 100_000

// evictScan is how many of the least recently failed entries eviction looks
// at to find one that is expired or at least not locked.
const evictScan = 16

// Memory is an in-process Store for a single replica. It is safe for
// concurrent use.
//
// It holds at most maxKeys counters, so spraying failures over many keys
// (made-up account names, many addresses) cannot exhaust memory. Expired
// counters are dropped when touched and, in least-recently-failed order, on
// every Fail. When the store is full a new key evicts, among the evictScan
// least recently failed counters, an expired one, else one that is not
// locked, else the oldest. Evicting a live counter forgets its failures, so
// size maxKeys well above the number of keys that can fail within a Window
// (the per-IP counter limits how fast one client can create keys).
type Memory struct {
	mu      sync.Mutex
	maxKeys int
	keys    map[string]*list.Element // of *memEntry
	lru     *list.List               // front: least recently failed
}

type memEntry struct {
	key     string
	st      state
	expires time.Time // zero: never
}

// NewMemory returns an empty Memory holding at most maxKeys counters
// (DefaultMaxKeys if maxKeys <= 0).
func NewMemory(maxKeys int) *Memory {
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	return &Memory{maxKeys: maxKeys, keys: make(map[string]*list.Element), lru: list.New()}
}

// Len reports how many counters are held (expired ones not yet pruned
// included).
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.keys)
}

func (e *memEntry) expired(now time.Time) bool {
	return !e.expires.IsZero() && !now.Before(e.expires)
}

// Check implements Store.
func (m *Memory) Check(_ context.Context, key string, p Policy, now time.Time) (Decision, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	el, ok := m.keys[key]
	if !ok {
		return state{}.decide(p, now), nil
	}
	e := el.Value.(*memEntry)
	st := e.st.current(p, now)
	if st == (state{}) {
		m.remove(el)
	}
	return st.decide(p, now), nil
}

// Fail implements Store.
func (m *Memory) Fail(_ context.Context, key string, p Policy, now time.Time) (Decision, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.prune(now)
	el, ok := m.keys[key]
	var e *memEntry
	if ok {
		e = el.Value.(*memEntry)
		m.lru.MoveToBack(el)
	} else {
		if len(m.keys) >= m.maxKeys {
			m.evict(now)
		}
		e = &memEntry{key: key}
		m.keys[key] = m.lru.PushBack(e)
	}
	st, just := e.st.fail(p, now)
	e.st, e.expires = st, st.expiry(p)
	d := st.decide(p, now)
	d.JustLocked = just
	return d, nil
}

// Reset implements Store.
func (m *Memory) Reset(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if el, ok := m.keys[key]; ok {
		m.remove(el)
	}
	return nil
}

func (m *Memory) remove(el *list.Element) {
	delete(m.keys, el.Value.(*memEntry).key)
	m.lru.Remove(el)
}

// prune drops expired entries from the least recently failed end, stopping
// at the first live one (amortised O(1): each entry is dropped once).
func (m *Memory) prune(now time.Time) {
	for el := m.lru.Front(); el != nil; el = m.lru.Front() {
		if !el.Value.(*memEntry).expired(now) {
			return
		}
		m.remove(el)
	}
}

// evict makes room for one entry; see Memory.
func (m *Memory) evict(now time.Time) {
	var unlocked *list.Element
	el := m.lru.Front()
	for i := 0; el != nil && i < evictScan; i, el = i+1, el.Next() {
		e := el.Value.(*memEntry)
		if e.expired(now) {
			m.remove(el)
			return
		}
		if unlocked == nil && (e.st.lockedUntil.IsZero() || !now.Before(e.st.lockedUntil)) {
			unlocked = el
		}
	}
	if unlocked == nil {
		unlocked = m.lru.Front()
	}
	if unlocked != nil {
		m.remove(unlocked)
	}
}
