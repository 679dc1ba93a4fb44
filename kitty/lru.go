package kitty

import (
	"container/list"
	"sync"
)

// lru is a small, fixed-capacity, least-recently-used cache of encoded
// pictures. It bounds the memory Builtin keeps however many tickets a long
// line issues, while the few pictures being fetched right now (the people at
// the head of the line, who reload) stay cheap.
type lru struct {
	mu       sync.Mutex
	capacity int
	order    *list.List               // front is the most recently used
	items    map[uint64]*list.Element // values are *lruEntry
}

type lruEntry struct {
	key  uint64
	data []byte
}

func newLRU(capacity int) *lru {
	if capacity < 1 {
		capacity = 1
	}
	return &lru{
		capacity: capacity,
		order:    list.New(),
		items:    make(map[uint64]*list.Element, capacity),
	}
}

// get returns the cached bytes for key and marks them recently used.
func (c *lru) get(key uint64) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(el)
	return el.Value.(*lruEntry).data, true
}

// add stores data under key, evicting the least recently used entry when
// full. If key is already present (two callers rendered it at once) the
// first stored bytes win and are returned, so every caller shares one copy.
func (c *lru) add(key uint64, data []byte) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		c.order.MoveToFront(el)
		return el.Value.(*lruEntry).data
	}
	c.items[key] = c.order.PushFront(&lruEntry{key: key, data: data})
	for c.order.Len() > c.capacity {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.items, oldest.Value.(*lruEntry).key)
	}
	return data
}

// len reports how many entries are cached.
func (c *lru) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
