package disk

import (
	"errors"
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
	s := &slice{joined: joined{devs: []Device{d}, size: size}, off: off}
	s.locate = func(o int64) (int, int64, int64) { return 0, off + o, size - o }
	return s
}

// slice is a window: a joined of one device, which can also discard and
// write zeroes.
type slice struct {
	joined
	off int64
}

// Discard discards the range on the device below, if it can; on one that
// cannot, the data stays, as the Discarder contract allows.
func (s *slice) Discard(off, n int64) error {
	off, n, err := s.window("discard", off, n)
	if dd, ok := s.devs[0].(Discarder); ok && err == nil {
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
	if z, ok := s.devs[0].(ZeroWriter); ok {
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

// Concat returns the device made of devs end to end: an LVM logical
// volume of several segments, an MD linear array. Its size is the sum of
// theirs; it is read-only if any of them is; Flush flushes them all.
func Concat(devs ...Device) Device {
	c := &joined{devs: devs}
	for _, d := range devs {
		c.starts = append(c.starts, c.size)
		c.size += d.Size()
	}
	c.locate = func(off int64) (int, int64, int64) {
		i := 0
		for j := len(c.starts) - 1; j > 0; j-- { // few pieces: a scan is enough
			if off >= c.starts[j] {
				i = j
				break
			}
		}
		return i, off - c.starts[i], c.devs[i].Size() - (off - c.starts[i])
	}
	return c
}

// Stripe returns the device that spreads its bytes over devs in chunks of
// chunk bytes, round robin: chunk k is chunk k/len(devs) of devs[k%len(devs)]
// (RAID 0, an LVM striped segment). Every device must have the same size,
// a multiple of chunk; the stripe's size is the sum of theirs.
func Stripe(chunk int64, devs ...Device) (Device, error) {
	if len(devs) == 0 || chunk <= 0 {
		return nil, fmt.Errorf("disk: stripe of %d devices in chunks of %d bytes", len(devs), chunk)
	}
	each := devs[0].Size()
	for i, d := range devs {
		if d.Size() != each || each%chunk != 0 {
			return nil, fmt.Errorf("disk: stripe: device %d has %d bytes; each must have %d, a multiple of the %d-byte chunk", i, d.Size(), each, chunk)
		}
	}
	n := int64(len(devs))
	s := &joined{devs: devs, size: each * n}
	s.locate = func(off int64) (int, int64, int64) {
		k, in := off/chunk, off%chunk
		return int(k % n), (k/n)*chunk + in, chunk - in
	}
	return s, nil
}

// joined is a device whose bytes live on several devices: locate maps an
// offset to the device holding it, the offset there, and how many bytes
// from there on are contiguous on that device.
type joined struct {
	devs   []Device
	starts []int64
	size   int64
	locate func(off int64) (dev int, devOff, run int64)
}

func (j *joined) ReadAt(p []byte, off int64) (int, error) {
	k, err := clip("", "read", off, len(p), j.size)
	if k == 0 {
		return 0, err
	}
	n, rerr := j.each(p[:k], off, func(d Device, p []byte, off int64) (int, error) {
		n, err := d.ReadAt(p, off)
		if err == io.EOF && n == len(p) {
			err = nil
		}
		return n, err
	})
	if rerr != nil {
		return n, rerr
	}
	return n, err
}

func (j *joined) WriteAt(p []byte, off int64) (int, error) {
	k, err := clip("", "write", off, len(p), j.size)
	if err != nil && err != io.EOF {
		return 0, err
	}
	n, werr := j.each(p[:k], off, func(d Device, p []byte, off int64) (int, error) { return d.WriteAt(p, off) })
	if werr != nil {
		return n, werr
	}
	if k < len(p) {
		return n, pastEnd("write", off, len(p)-k, j.size)
	}
	return n, nil
}

// each runs op on the contiguous pieces of p at off, in order.
func (j *joined) each(p []byte, off int64, op func(d Device, p []byte, off int64) (int, error)) (int, error) {
	done := 0
	for done < len(p) {
		i, doff, run := j.locate(off + int64(done))
		m := int(min(run, int64(len(p)-done)))
		n, err := op(j.devs[i], p[done:done+m], doff)
		done += n
		if err != nil {
			return done, err
		}
		if n < m {
			return done, io.ErrUnexpectedEOF
		}
	}
	return done, nil
}

func (j *joined) Size() int64 { return j.size }

func (j *joined) Flush() error {
	var errs []error
	for _, d := range j.devs {
		if err := d.Flush(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Under returns the devices the bytes live on (Stacked): the joined
// device is read-only if any of them is, local if all of them are.
func (j *joined) Under() []Device { return j.devs }

// ReadFull reads exactly len(p) bytes of d at off, as io.ReadFull does
// for a stream: a range not inside d is an error before d is asked, a
// short read is io.ErrUnexpectedEOF (or d's error). The readers of
// on-disk structures (partition tables, LVM labels, MD superblocks) use
// it.
func ReadFull(d Device, p []byte, off int64) error {
	if off < 0 || off > d.Size() || int64(len(p)) > d.Size()-off {
		return fmt.Errorf("disk: %d bytes at %d: past the end of the device (%d bytes)", len(p), off, d.Size())
	}
	n, err := d.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}
