package disk

import (
	"errors"
	"fmt"
	"io"
)

// A Device is a block device: a fixed-size array of bytes that can be read
// and written at any offset. It is what LKL's virtio-blk requests are
// served from (see sys/lkl's Kernel.AttachDisk).
//
// ReadAt and WriteAt have the contracts of io.ReaderAt and io.WriterAt, and
// must be safe to call from many goroutines at once: LKL issues several
// requests concurrently, and a slow request (a remote read) must not hold
// up the others. Offsets and lengths the kernel passes are multiples of 512
// and lie within [0, Size()). A short read inside the device is an error.
//
// Size is the device's size in bytes; it does not change while the device
// is attached. Flush makes every completed write durable (fdatasync for a
// file, NBD_CMD_FLUSH for an NBD export); a device with nothing to flush
// returns nil.
//
// Errors are returned as they are: the adapter reports a request's failure
// to the kernel as an I/O error (EIO) and the device's error once on the
// kernel's trace. A device must not panic.
type Device interface {
	io.ReaderAt
	io.WriterAt
	Size() int64
	Flush() error
}

// A ReadOnlyDevice says whether writes are refused. A device that is
// read-only should implement it, so the kernel marks the block device
// read-only (BLKROSET) and file systems do not try to write (XFS writes
// its log even on a read-only mount otherwise).
type ReadOnlyDevice interface {
	Device
	ReadOnly() bool
}

// A Discarder can drop the contents of a range (virtio-blk DISCARD, the
// kernel's TRIM): later reads of it return zeroes or the old data, at the
// device's choice, but never an error.
type Discarder interface {
	Device
	Discard(off, n int64) error
}

// A ZeroWriter can make a range read as zeroes without being sent the zero
// bytes (virtio-blk WRITE_ZEROES, NBD_CMD_WRITE_ZEROES).
type ZeroWriter interface {
	Device
	WriteZeroes(off, n int64) error
}

// A VectorReader reads consecutive bytes at off into several buffers in one
// request, as preadv(2) does. A request's segments are contiguous on the
// disk, so a device that can do one read for them all saves work.
type VectorReader interface {
	Device
	ReadvAt(bufs [][]byte, off int64) (int, error)
}

// A VectorWriter writes several buffers to consecutive bytes at off in one
// request, as pwritev(2) does.
type VectorWriter interface {
	Device
	WritevAt(bufs [][]byte, off int64) (int, error)
}

// ErrReadOnly is returned by WriteAt, Discard and WriteZeroes of a device
// that refuses writes. errors.Is(err, ErrReadOnly) holds for the errors of
// every read-only device in this package and its sub-packages.
var ErrReadOnly = errors.New("disk: read-only device")

// ErrClosed is returned by every method of a device that has been closed.
var ErrClosed = errors.New("disk: device closed")

// A LocalDevice says whether its calls complete quickly without the
// network: a file on the host, memory, a qcow2 image in a host file. The
// adapter in sys/lkl serves a local device's requests inline, on the
// thread that submitted them, instead of handing each to a goroutine (and
// does not bound them with io_timeout). A device that can wait on a
// server, a lock held across I/O or a person must not say it is local.
type LocalDevice interface {
	Device
	Local() bool
}

// A TryReader can serve some reads without waiting: TryReadAt reads
// len(p) bytes at off and reports ok only if it could do so at once (from
// memory it holds, such as a block cache), with no I/O and no wait on a
// lock held across I/O; otherwise it reads nothing that counts and
// returns ok false, and the caller uses ReadAt. An HTTP disk answers its
// cached blocks this way, so that sys/lkl serves them inline.
type TryReader interface {
	Device
	TryReadAt(p []byte, off int64) (n int, ok bool)
}

// A Stacked device is built on other devices (a slice or concatenation of
// them, a cache or an overlay over one) and Under returns them.
// IsReadOnly and IsLocal look through a stacked device that does not
// answer for itself: a wrapper need not forward each upgrade by hand.
type Stacked interface {
	Device
	Under() []Device
}

// IsReadOnly reports whether d refuses writes, as its ReadOnly method
// says; a stacked device without one is read-only if any device under it
// is (its writes would fail there), and any other device is writable.
func IsReadOnly(d Device) bool {
	if ro, ok := d.(ReadOnlyDevice); ok {
		return ro.ReadOnly()
	}
	if s, ok := d.(Stacked); ok {
		for _, u := range s.Under() {
			if IsReadOnly(u) {
				return true
			}
		}
	}
	return false
}

// IsLocal reports whether d's calls complete without the network, as its
// Local method says; a stacked device without one is local if it stands
// on at least one device and every device under it is local; any other
// device is not (a device of unknown kind may be slow).
func IsLocal(d Device) bool {
	if l, ok := d.(LocalDevice); ok {
		return l.Local()
	}
	s, ok := d.(Stacked)
	if !ok {
		return false
	}
	under := s.Under()
	for _, u := range under {
		if !IsLocal(u) {
			return false
		}
	}
	return len(under) > 0
}

// ReaderAt makes a read-only Device of r, whose first size bytes are the
// disk. It is all a device needs to be: an io.ReaderAt and a size.
func ReaderAt(r io.ReaderAt, size int64) Device {
	return &readerAt{r: r, size: size}
}

type readerAt struct {
	r    io.ReaderAt
	size int64
}

func (d *readerAt) ReadAt(p []byte, off int64) (int, error) {
	k, err := clip("", "read", off, len(p), d.size)
	if err != nil && err != io.EOF {
		return 0, err
	}
	if k < len(p) {
		n, err := d.r.ReadAt(p[:k], off)
		if err == nil || (err == io.EOF && n == k) {
			err = io.EOF
		}
		return n, err
	}
	n, err := d.r.ReadAt(p, off)
	if err == io.EOF && n == len(p) {
		err = nil // io.ReaderAt allows EOF with a full read at the end
	}
	return n, err
}

func (d *readerAt) WriteAt(p []byte, off int64) (int, error) {
	return 0, fmt.Errorf("disk: write at %d: %w", off, ErrReadOnly)
}

func (d *readerAt) Size() int64    { return d.size }
func (d *readerAt) Flush() error   { return nil }
func (d *readerAt) ReadOnly() bool { return true }

// clip checks a request of n bytes at off on a device of size bytes: an
// offset outside the device is an error naming the device kind and op; a
// request running past the end is cut to the bytes that are there, with
// io.EOF.
func clip(kind, op string, off int64, n int, size int64) (int, error) {
	if off < 0 || off > size {
		if kind != "" {
			kind += " "
		}
		return 0, fmt.Errorf("disk: %s%s at %d: offset outside the device (%d bytes)", kind, op, off, size)
	}
	if rest := size - off; int64(n) > rest {
		return int(rest), io.EOF
	}
	return n, nil
}

// pastEnd is the error of a write that ran k bytes past the end.
func pastEnd(op string, off int64, k int, size int64) error {
	return fmt.Errorf("disk: %s at %d: %d bytes past the end of the device (%d bytes)", op, off, k, size)
}
