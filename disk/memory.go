package disk

import (
	"fmt"
	"io"
	"sync"
)

// memChunk is the allocation unit of a Memory disk.
const memChunk = 64 << 10

// Memory is a sparse disk held in memory: a chunk of 64 KiB is allocated
// on the first write into it, and every byte never written reads as zero.
// Discard and WriteZeroes free the chunks they cover whole. Its methods
// are safe for concurrent use. The zero Memory is a disk of no bytes; make
// one with NewMemory.
type Memory struct {
	size   int64
	mu     sync.RWMutex
	chunks map[int64][]byte // chunk index → memChunk bytes
}

// NewMemory returns an empty (all-zero) disk of size bytes.
func NewMemory(size int64) *Memory {
	return &Memory{size: max(size, 0), chunks: map[int64][]byte{}}
}

// Size is the disk's size in bytes.
func (m *Memory) Size() int64 { return m.size }

// Flush does nothing: memory holds no write back.
func (m *Memory) Flush() error { return nil }

// Local reports true: the disk is memory (LocalDevice).
func (m *Memory) Local() bool { return true }

// Allocated is how many bytes of memory the disk's chunks take.
func (m *Memory) Allocated() int64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return int64(len(m.chunks)) * memChunk
}

// chunks calls fn for each chunk the n bytes at off touch: its number,
// the offset in it, and the span [from, to) of the request it holds.
func chunks(off int64, n int, fn func(c int64, in, from, to int)) {
	for done := 0; done < n; {
		pos := off + int64(done)
		c, in := pos/memChunk, int(pos%memChunk)
		k := min(n-done, memChunk-in)
		fn(c, in, done, done+k)
		done += k
	}
}

// ReadAt reads len(p) bytes at off; unwritten bytes read as zero.
func (m *Memory) ReadAt(p []byte, off int64) (int, error) {
	n, err := clip("memory", "read", off, len(p), m.size)
	if n == 0 {
		return 0, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	chunks(off, n, func(c int64, in, from, to int) {
		if chunk := m.chunks[c]; chunk != nil {
			copy(p[from:to], chunk[in:])
		} else {
			clear(p[from:to])
		}
	})
	return n, err
}

// WriteAt writes len(p) bytes at off. A write past the end writes what
// fits and returns an error.
func (m *Memory) WriteAt(p []byte, off int64) (int, error) {
	n, err := clip("memory", "write", off, len(p), m.size)
	if err == io.EOF {
		err = pastEnd("memory write", off, len(p)-n, m.size)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	chunks(off, n, func(c int64, in, from, to int) {
		chunk := m.chunks[c]
		if chunk == nil {
			chunk = make([]byte, memChunk)
			m.chunks[c] = chunk
		}
		copy(chunk[in:], p[from:to])
	})
	return n, err
}

// WriteZeroes makes the range read as zero, freeing the chunks it covers
// whole.
func (m *Memory) WriteZeroes(off, n int64) error {
	if n < 0 {
		return fmt.Errorf("disk: memory write zeroes at %d: negative length %d", off, n)
	}
	k, err := clip("memory", "write zeroes", off, int(min(n, m.size+1)), m.size)
	if err == io.EOF {
		return pastEnd("memory write zeroes", off, int(n-int64(k)), m.size)
	}
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for end := off + n; off < end; {
		c, in := off/memChunk, off%memChunk
		k := min(end-off, memChunk-in)
		if chunk := m.chunks[c]; chunk != nil {
			if k == memChunk {
				delete(m.chunks, c)
			} else {
				clear(chunk[in : in+k])
			}
		}
		off += k
	}
	return nil
}

// Discard is WriteZeroes: a discarded range of a Memory disk reads as
// zero and its memory is freed.
func (m *Memory) Discard(off, n int64) error { return m.WriteZeroes(off, n) }
