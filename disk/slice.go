package disk

import (
	"fmt"
	"io"
)

// Slice returns the device of the size bytes of d that start at off: a
// partition, a logical volume's piece of a physical volume, an MD member's
// data area. It is io.SectionReader for devices. Reads and writes outside
// the window are clipped to it as at the end of any device; ReadOnly,
// Flush, Discard and WriteZeroes pass through to d. A window that runs
// past the end of d is cut there (Linux truncates such a partition too);
// one that starts past it, or a negative one, is empty. Closing d is its
// owner's business: the slice has no Close.
func Slice(d Device, off, size int64) Device {
	end := d.Size()
	off = min(max(off, 0), end)
	size = min(max(size, 0), end-off)
	return &slice{d: d, off: off, size: size}
}

type slice struct {
	d         Device
	off, size int64
}

func (s *slice) ReadAt(p []byte, off int64) (int, error) {
	k, err := clip("slice", "read", off, len(p), s.size)
	if k == 0 {
		return 0, err
	}
	n, rerr := s.d.ReadAt(p[:k], s.off+off)
	if rerr != nil && !(rerr == io.EOF && n == k) {
		return n, rerr
	}
	return n, err
}

func (s *slice) WriteAt(p []byte, off int64) (int, error) {
	k, err := clip("slice", "write", off, len(p), s.size)
	if err != nil && err != io.EOF {
		return 0, err
	}
	n, werr := s.d.WriteAt(p[:k], s.off+off)
	if werr != nil {
		return n, werr
	}
	if k < len(p) {
		return n, pastEnd("slice write", off, len(p)-k, s.size)
	}
	return n, nil
}

func (s *slice) Size() int64    { return s.size }
func (s *slice) Flush() error   { return s.d.Flush() }
func (s *slice) ReadOnly() bool { return IsReadOnly(s.d) }

// Discard discards the range on the device below, if it can; on one that
// cannot, the data stays, as the Discarder contract allows.
func (s *slice) Discard(off, n int64) error {
	off, n, err := s.window("discard", off, n)
	if dd, ok := s.d.(Discarder); ok && err == nil {
		return dd.Discard(off, n)
	}
	return err
}

// WriteZeroes zeroes the range by the device's WriteZeroes, or by writing
// zeroes.
func (s *slice) WriteZeroes(off, n int64) error {
	woff, wn, err := s.window("write zeroes", off, n)
	if err != nil {
		return err
	}
	if z, ok := s.d.(ZeroWriter); ok {
		return z.WriteZeroes(woff, wn)
	}
	return writeZeroes(s, off, n)
}

// window maps a range of the slice to the device below.
func (s *slice) window(op string, off, n int64) (int64, int64, error) {
	if off < 0 || n < 0 || off > s.size || n > s.size-off {
		return 0, 0, fmt.Errorf("disk: slice %s of %d bytes at %d: outside the device (%d bytes)", op, n, off, s.size)
	}
	return s.off + off, n, nil
}
