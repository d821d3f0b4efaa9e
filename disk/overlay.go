package disk

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"sync"
)

// blockSize is an Overlay's unit of copy-on-write: the first write into a
// block copies the base's block into the overlay.
const blockSize = 4096

// An Overlay is a copy-on-write disk over a base Device: writes land in
// the overlay (in memory, or in a sidecar file that outlives the process),
// reads see them, and the base is never written until Commit. It is what
// lets a repair or an experiment run on an image that must stay pristine.
//
// Its methods are safe for concurrent use: reads run in parallel, writes
// one at a time. Extents lists what changed, Commit writes it into the
// base, Export writes the whole disk as a new raw image.
type Overlay struct {
	base     Device
	size     int64
	readOnly bool
	under    io.Closer // closed by Close when Open built the chain

	mu     sync.RWMutex
	st     store
	index  map[int64]int64 // block number → slot in st
	closed bool
}

// A store holds an overlay's blocks, each in a slot.
type store interface {
	// read fills p from slot's block, starting at byte off of the block.
	read(slot int64, p []byte, off int) error
	// write puts p at byte off of slot's block; a new slot (slot equal to
	// the count of slots) gets block number blk and a whole block p.
	write(slot, blk int64, p []byte, off int) error
	// reset drops every block.
	reset() error
	flush() error
	close() error
}

// An Extent is a range of a disk: Len bytes at Off.
type Extent struct {
	Off, Len int64
}

// NewOverlay returns an overlay on base that keeps its writes in memory.
func NewOverlay(base Device) *Overlay {
	return &Overlay{base: base, size: base.Size(), st: &memStore{}, index: map[int64]int64{}}
}

// OpenOverlay returns an overlay on base that keeps its writes in the
// sidecar file at path (the format is described at sidecarMagic). A new
// file is created; an existing one must be a sidecar made for a base of
// base's size, or OpenOverlay fails with an error naming what is wrong.
func OpenOverlay(base Device, path string) (*Overlay, error) {
	st, index, err := openSidecar(path, base.Size())
	if err != nil {
		return nil, err
	}
	return &Overlay{base: base, size: base.Size(), st: st, index: index}, nil
}

// Size is the base's size.
func (o *Overlay) Size() int64 { return o.size }

// ReadOnly reports whether the overlay refuses writes (Open's ReadOnly
// with an overlay: the changes are seen but no more are made).
func (o *Overlay) ReadOnly() bool { return o.readOnly }

// Base returns the device under the overlay.
func (o *Overlay) Base() Device { return o.base }

// Under returns the base (Stacked): the overlay is local if the base is
// (its own blocks are in memory or in a host file). Whether it is
// read-only is its own ReadOnly.
func (o *Overlay) Under() []Device { return []Device{o.base} }

// ReadAt reads len(p) bytes at off: changed blocks from the overlay, runs
// of unchanged ones from the base in one read each.
func (o *Overlay) ReadAt(p []byte, off int64) (int, error) {
	n, eof := clip("overlay", "read", off, len(p), o.size)
	if eof != nil && eof != io.EOF {
		return 0, eof
	}
	o.mu.RLock()
	defer o.mu.RUnlock()
	if o.closed {
		return 0, ErrClosed
	}
	baseFrom := -1 // start in p of a run of unchanged blocks
	flushBase := func(to int) error {
		if baseFrom < 0 {
			return nil
		}
		from := baseFrom
		baseFrom = -1
		if _, err := o.base.ReadAt(p[from:to], off+int64(from)); err != nil {
			return fmt.Errorf("disk: overlay: base read at %d: %w", off+int64(from), err)
		}
		return nil
	}
	for done := 0; done < n; {
		pos := off + int64(done)
		blk, in := pos/blockSize, int(pos%blockSize)
		k := min(n-done, blockSize-in)
		if slot, ok := o.index[blk]; ok {
			if err := flushBase(done); err != nil {
				return 0, err
			}
			if err := o.st.read(slot, p[done:done+k], in); err != nil {
				return 0, err
			}
		} else if baseFrom < 0 {
			baseFrom = done
		}
		done += k
	}
	if err := flushBase(n); err != nil {
		return 0, err
	}
	return n, eof
}

// WriteAt writes p at off into the overlay. The first write into a block
// copies the rest of the block from the base.
func (o *Overlay) WriteAt(p []byte, off int64) (int, error) {
	if o.readOnly {
		return 0, fmt.Errorf("disk: overlay write at %d: %w", off, ErrReadOnly)
	}
	n, err := clip("overlay", "write", off, len(p), o.size)
	if err == io.EOF {
		return 0, pastEnd("overlay write", off, len(p)-n, o.size)
	} else if err != nil {
		return 0, err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return 0, ErrClosed
	}
	var block []byte
	for done := 0; done < n; {
		pos := off + int64(done)
		blk, in := pos/blockSize, int(pos%blockSize)
		k := min(n-done, blockSize-in)
		if slot, ok := o.index[blk]; ok {
			if err := o.st.write(slot, blk, p[done:done+k], in); err != nil {
				return done, err
			}
			done += k
			continue
		}
		if block == nil {
			block = make([]byte, blockSize)
		}
		clear(block)
		start := blk * blockSize
		valid := int(min(blockSize, o.size-start)) // the last block may be short
		if in > 0 || k < valid {
			if _, err := o.base.ReadAt(block[:valid], start); err != nil {
				return done, fmt.Errorf("disk: overlay: copying block at %d from the base: %w", start, err)
			}
		}
		copy(block[in:], p[done:done+k])
		slot := int64(len(o.index))
		if err := o.st.write(slot, blk, block, 0); err != nil {
			return done, err
		}
		o.index[blk] = slot
		done += k
	}
	return n, nil
}

// WriteZeroes writes zeroes over the range into the overlay.
func (o *Overlay) WriteZeroes(off, n int64) error { return writeZeroes(o, off, n) }

// Flush makes the overlay's writes durable (fdatasync of the sidecar).
// The base is never written, so it is not flushed.
func (o *Overlay) Flush() error {
	o.mu.RLock()
	defer o.mu.RUnlock()
	if o.closed {
		return ErrClosed
	}
	return o.st.flush()
}

// Extents lists the ranges the overlay holds, in order, adjacent blocks
// merged: the bytes Commit would write.
func (o *Overlay) Extents() []Extent {
	o.mu.RLock()
	defer o.mu.RUnlock()
	var out []Extent
	for _, blk := range slices.Sorted(maps.Keys(o.index)) {
		start := blk * blockSize
		n := min(blockSize, o.size-start)
		if last := len(out) - 1; last >= 0 && out[last].Off+out[last].Len == start {
			out[last].Len += n
		} else {
			out = append(out, Extent{start, n})
		}
	}
	return out
}

// Commit writes the overlay's blocks into the base, flushes the base,
// then empties the overlay. It fails with ErrReadOnly if the base is
// read-only. If a write to the base fails, the overlay keeps every block,
// so Commit can be retried.
func (o *Overlay) Commit() error {
	if IsReadOnly(o.base) {
		return fmt.Errorf("disk: overlay commit: base %w", ErrReadOnly)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return ErrClosed
	}
	block := make([]byte, blockSize)
	for _, blk := range slices.Sorted(maps.Keys(o.index)) {
		if err := o.st.read(o.index[blk], block, 0); err != nil {
			return err
		}
		start := blk * blockSize
		if _, err := o.base.WriteAt(block[:min(blockSize, o.size-start)], start); err != nil {
			return fmt.Errorf("disk: overlay commit: base write at %d: %w", start, err)
		}
	}
	if err := o.base.Flush(); err != nil {
		return fmt.Errorf("disk: overlay commit: base flush: %w", err)
	}
	clear(o.index)
	return o.st.reset()
}

// Export writes the whole disk as the overlay shows it (a raw image of
// Size bytes) to w. Writes made while it runs may or may not be in it.
func (o *Overlay) Export(w io.Writer) error {
	_, err := io.Copy(w, io.NewSectionReader(o, 0, o.size))
	return err
}

// ExportFile writes the disk as a new sparse raw image at path (created,
// or truncated if it exists): runs of zeroes become holes.
func (o *Overlay) ExportFile(path string) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	buf := make([]byte, 1<<20)
	for off := int64(0); off < o.size; off += int64(len(buf)) {
		p := buf[:min(int64(len(buf)), o.size-off)]
		if _, err := o.ReadAt(p, off); err != nil {
			return err
		}
		if allZero(p) {
			continue
		}
		if _, err := f.WriteAt(p, off); err != nil {
			return err
		}
	}
	if err := f.Truncate(o.size); err != nil {
		return err
	}
	return f.Sync()
}

func allZero(p []byte) bool {
	var zero [4096]byte
	for len(p) > 0 {
		k := min(len(p), len(zero))
		if !bytes.Equal(p[:k], zero[:k]) {
			return false
		}
		p = p[k:]
	}
	return true
}

// Close closes the sidecar (and, for a chain Open built, the base). The
// base is never written, so nothing is lost by closing an overlay that
// was not committed, except the changes of a memory overlay. A second
// Close returns ErrClosed.
func (o *Overlay) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return ErrClosed
	}
	o.closed = true
	err := o.st.close()
	if o.under != nil {
		if cerr := o.under.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// memStore keeps an overlay's blocks in memory.
type memStore struct {
	blocks [][]byte
}

func (m *memStore) read(slot int64, p []byte, off int) error {
	copy(p, m.blocks[slot][off:])
	return nil
}

func (m *memStore) write(slot, _ int64, p []byte, off int) error {
	if slot == int64(len(m.blocks)) {
		m.blocks = append(m.blocks, bytes.Clone(p))
		return nil
	}
	copy(m.blocks[slot][off:], p)
	return nil
}

func (m *memStore) reset() error { m.blocks = nil; return nil }
func (m *memStore) flush() error { return nil }
func (m *memStore) close() error { m.blocks = nil; return nil }
