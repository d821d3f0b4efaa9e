package disk

import (
	"bytes"
	"container/list"
	"io"
	"sync"
)

// CacheOptions size a Cache; the zero value (or nil) works.
type CacheOptions struct {
	// BlockSize is the unit read from the device and kept: 64 KiB by
	// default. A multiple of 512.
	BlockSize int
	// MaxBytes bounds the memory of cached blocks: 32 MiB by default.
	MaxBytes int64
	// ReadAhead is the largest read-ahead window on a sequential run:
	// 1 MiB by default. The window starts at one block and doubles with
	// each sequential request; a non-sequential request resets it.
	// Negative: no read-ahead.
	ReadAhead int64
}

// A Cache is a read cache over a Device: it reads whole blocks, keeps the
// most recently used ones in bounded memory, merges the misses of one
// request into one read of the device, and reads ahead on sequential
// runs. It turns the kernel's many small requests (ext4 reads its inode
// tables 1 KiB at a time) into a few large ones, which matters most for a
// device with a cost per request (a remote one).
//
// Writes go through to the device at once and drop the cached blocks they
// touch, as WriteZeroes and Discard do. Its methods are safe for
// concurrent use: a block read while a write changes it is not cached.
type Cache struct {
	dev   Device
	bs    int64
	max   int // blocks
	ahead int64

	mu     sync.Mutex
	blocks map[int64]*list.Element // block number → element of lru (*cacheBlock)
	lru    *list.List              // front: most recently used
	gen    uint64                  // bumped by every write: fetches older than it are not kept
	next   int64                   // where the last read ended
	window int64                   // current read-ahead, bytes
	stats  CacheStats
}

type cacheBlock struct {
	n    int64
	data []byte // BlockSize bytes, fewer for the device's last block
}

// CacheStats count a Cache's work since it was made.
type CacheStats struct {
	Requests  int64 // ReadAt calls
	Hits      int64 // blocks found cached
	Misses    int64 // blocks read from the device for a request
	Ahead     int64 // blocks read ahead of any request
	DevReads  int64 // ReadAt calls on the device
	DevBytes  int64 // bytes they read
	Cached    int64 // bytes held now
	Discarded int64 // blocks fetched but not kept, as a write raced them
}

// NewCache returns a cache over dev.
func NewCache(dev Device, opts *CacheOptions) *Cache {
	var o CacheOptions
	if opts != nil {
		o = *opts
	}
	if o.BlockSize <= 0 || o.BlockSize%512 != 0 {
		o.BlockSize = 64 << 10
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = 32 << 20
	}
	if o.ReadAhead == 0 {
		o.ReadAhead = 1 << 20
	}
	bs := int64(o.BlockSize)
	return &Cache{
		dev: dev, bs: bs, max: int(max(4, o.MaxBytes/bs)), ahead: max(0, o.ReadAhead),
		blocks: map[int64]*list.Element{}, lru: list.New(), next: -1,
	}
}

// Size is the device's size.
func (c *Cache) Size() int64 { return c.dev.Size() }

// Flush flushes the device (the cache holds no writes).
func (c *Cache) Flush() error { return c.dev.Flush() }

// Under returns the cached device (Stacked): the cache is read-only and
// local as it is.
func (c *Cache) Under() []Device { return []Device{c.dev} }

// Stats returns the cache's counters.
func (c *Cache) Stats() CacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stats
	for e := c.lru.Front(); e != nil; e = e.Next() {
		s.Cached += int64(len(e.Value.(*cacheBlock).data))
	}
	return s
}

// A fetch is a run of consecutive blocks missing from the cache.
type fetch struct {
	first, count int64
	wanted       int64 // how many of them the request needs (the rest is read-ahead)
	data         []byte
}

// ReadAt reads len(p) bytes at off, from cached blocks where it can and
// with one device read per run of missing blocks.
func (c *Cache) ReadAt(p []byte, off int64) (int, error) {
	size := c.dev.Size()
	k, eof := clip("cache", "read", off, len(p), size)
	if eof != nil && eof != io.EOF {
		return 0, eof
	}
	p = p[:k]
	if len(p) == 0 {
		return 0, eof
	}
	if int64(len(p)) > int64(c.max)*c.bs/4 { // too big to cache: straight through
		return c.dev.ReadAt(p, off)
	}
	first, last := off/c.bs, (off+int64(len(p))-1)/c.bs
	nblocks := (size + c.bs - 1) / c.bs

	c.mu.Lock()
	c.stats.Requests++
	// Sequential? Then grow the read-ahead window, else reset it.
	if c.next >= 0 && off >= c.next-c.bs && off <= c.next+c.bs {
		c.window = min(max(2*c.window, c.bs), c.ahead)
	} else {
		c.window = 0
	}
	c.next = off + int64(len(p))
	var fetches []*fetch
	for b := first; b <= last; b++ {
		if e, ok := c.blocks[b]; ok {
			if c.window > 0 && off+int64(len(p)) >= (b+1)*c.bs {
				// A sequential reader is done with this block: it goes
				// first, before the blocks read ahead of the reader.
				c.lru.MoveToBack(e)
			} else {
				c.lru.MoveToFront(e)
			}
			c.copyOut(p, off, e.Value.(*cacheBlock))
			c.stats.Hits++
			continue
		}
		if n := len(fetches); n > 0 && fetches[n-1].first+fetches[n-1].count == b {
			fetches[n-1].count++
		} else {
			fetches = append(fetches, &fetch{first: b, count: 1})
		}
		fetches[len(fetches)-1].wanted++
	}
	// Read ahead when less than half the window is cached past the
	// request: a whole window from the first missing block, so that a
	// sequential reader meets one device read per window, not per block.
	if wb := c.window / c.bs; wb > 0 {
		m := last + 1
		for m < nblocks && m-last <= wb/2 && c.blocks[m] != nil {
			m++
		}
		if m < nblocks && m-last <= wb/2 {
			var f *fetch
			if n := len(fetches); n > 0 && fetches[n-1].first+fetches[n-1].count == m {
				f = fetches[n-1]
			} else {
				f = &fetch{first: m}
				fetches = append(fetches, f)
			}
			for b := m; b < min(nblocks, m+wb) && c.blocks[b] == nil; b++ {
				f.count++
			}
		}
	}
	gen := c.gen
	c.mu.Unlock()

	for _, f := range fetches {
		start := f.first * c.bs
		f.data = make([]byte, min(f.count*c.bs, size-start))
		if _, err := c.dev.ReadAt(f.data, start); err != nil && !(err == io.EOF && start+int64(len(f.data)) == size) {
			return 0, err
		}
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	for _, f := range fetches {
		c.stats.DevReads++
		c.stats.DevBytes += int64(len(f.data))
		c.stats.Misses += f.wanted
		c.stats.Ahead += f.count - f.wanted
		for i := range f.count {
			blk := &cacheBlock{n: f.first + i, data: f.data[i*c.bs : min((i+1)*c.bs, int64(len(f.data)))]}
			if blk.n >= first && blk.n <= last {
				c.copyOut(p, off, blk)
			}
			if gen != c.gen {
				c.stats.Discarded++
				continue
			}
			// A copy of its own, so that one block kept does not keep
			// the whole fetch: the memory bound holds.
			blk.data = bytes.Clone(blk.data)
			c.insert(blk)
		}
	}
	return len(p), eof
}

// copyOut copies the part of blk that p (at off) covers.
func (c *Cache) copyOut(p []byte, off int64, blk *cacheBlock) {
	start := blk.n * c.bs
	if start >= off {
		copy(p[start-off:], blk.data)
	} else {
		copy(p, blk.data[off-start:])
	}
}

func (c *Cache) insert(blk *cacheBlock) {
	if e, ok := c.blocks[blk.n]; ok {
		e.Value = blk
		c.lru.MoveToFront(e)
		return
	}
	c.blocks[blk.n] = c.lru.PushFront(blk)
	for c.lru.Len() > c.max {
		old := c.lru.Remove(c.lru.Back()).(*cacheBlock)
		delete(c.blocks, old.n)
	}
}

// WriteAt writes p at off through to the device, then drops the cached
// blocks it covers. (Updating them instead would let two racing writes
// leave the cache in the order their locks were taken and the device in
// the order their writes landed.)
func (c *Cache) WriteAt(p []byte, off int64) (int, error) {
	n, err := c.dev.WriteAt(p, off)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.drop(off, int64(len(p)))
	return n, err
}

// drop forgets the cached blocks that overlap n bytes at off.
func (c *Cache) drop(off, n int64) {
	if n <= 0 {
		return
	}
	for b := off / c.bs; b <= (off+n-1)/c.bs; b++ {
		if e, ok := c.blocks[b]; ok {
			c.lru.Remove(e)
			delete(c.blocks, b)
		}
	}
}

// invalidate runs op on the device, then drops the blocks it changed.
func (c *Cache) invalidate(off, n int64, op func() error) error {
	err := op()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.drop(off, min(n, c.dev.Size()-off))
	return err
}

// WriteZeroes zeroes the range on the device (by its WriteZeroes, or by
// writing zeroes) and drops the cached blocks it covers.
func (c *Cache) WriteZeroes(off, n int64) error {
	if z, ok := c.dev.(ZeroWriter); ok {
		return c.invalidate(off, n, func() error { return z.WriteZeroes(off, n) })
	}
	return writeZeroes(c, off, n)
}

// Discard discards the range on the device, if it can, and drops the
// cached blocks it covers; on a device that cannot, the data stays, as
// the Discarder contract allows.
func (c *Cache) Discard(off, n int64) error {
	if d, ok := c.dev.(Discarder); ok {
		return c.invalidate(off, n, func() error { return d.Discard(off, n) })
	}
	return nil
}
