package qcow2

import (
	"container/list"
	"sync"
)

// lru is a bounded map from host offsets to tables or clusters, dropping
// the least recently used. It is safe for concurrent use.
type lru[V any] struct {
	mu    sync.Mutex
	max   int
	order *list.List              // front: most recent; values are keys
	items map[int64]*list.Element // element Value: *lruItem[V]
}

type lruItem[V any] struct {
	key int64
	val V
}

func newLRU[V any](max int) *lru[V] {
	return &lru[V]{max: max, order: list.New(), items: map[int64]*list.Element{}}
}

func (c *lru[V]) get(k int64) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[k]; ok {
		c.order.MoveToFront(e)
		return e.Value.(*lruItem[V]).val, true
	}
	var zero V
	return zero, false
}

func (c *lru[V]) put(k int64, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[k]; ok {
		e.Value.(*lruItem[V]).val = v
		c.order.MoveToFront(e)
		return
	}
	c.items[k] = c.order.PushFront(&lruItem[V]{k, v})
	for c.order.Len() > c.max {
		old := c.order.Remove(c.order.Back()).(*lruItem[V])
		delete(c.items, old.key)
	}
}
