package treestream

import (
	"bufio"
	"encoding/binary"
	"io"
	"time"
)

// A Writer writes a stream (see the package doc). It checks nothing: the
// Reader does. Its methods return the underlying writer's first error,
// and do nothing after it.
type Writer struct {
	w       *bufio.Writer
	started bool
	err     error
	num     [binary.MaxVarintLen64]byte
}

// NewWriter returns a Writer into w, which it buffers: 32 KiB, so that a
// reader starts on the first few hundred files' records while the rest
// are walked (a data record larger than what is free goes out at once).
func NewWriter(w io.Writer) *Writer { return &Writer{w: bufio.NewWriterSize(w, 32<<10)} }

func (w *Writer) kind(k byte) {
	if !w.started {
		w.started = true
		w.write([]byte(Magic))
	}
	w.num[0] = k
	w.write(w.num[:1])
}

// write writes p, keeping the first error.
func (w *Writer) write(p []byte) {
	if w.err == nil {
		_, w.err = w.w.Write(p)
	}
}

func (w *Writer) uvarint(v uint64) {
	n := binary.PutUvarint(w.num[:], v)
	w.write(w.num[:n])
}

func (w *Writer) str(s string) {
	w.uvarint(uint64(len(s)))
	w.write([]byte(s))
}

func (w *Writer) entry(dir int, name string) {
	w.uvarint(uint64(dir))
	w.str(name)
}

func (w *Writer) times(atime, mtime time.Time) {
	for _, t := range []time.Time{atime, mtime} {
		n := binary.PutVarint(w.num[:], t.Unix())
		w.write(w.num[:n])
		w.uvarint(uint64(t.Nanosecond()))
	}
}

// Root writes the root record: the exported directory's mode and times.
func (w *Writer) Root(mode uint32, atime, mtime time.Time) error {
	w.kind(KindRoot)
	w.uvarint(uint64(mode))
	w.times(atime, mtime)
	return w.Err()
}

// Dir writes a directory record; the directory gets the next dir index.
func (w *Writer) Dir(dir int, name string, mode uint32, atime, mtime time.Time) error {
	w.kind(KindDir)
	w.entry(dir, name)
	w.uvarint(uint64(mode))
	w.times(atime, mtime)
	return w.Err()
}

// File writes a file record; its Data (or with extents its Extent)
// records and a FileEnd follow.
func (w *Writer) File(dir int, name string, mode uint32, size int64, atime, mtime time.Time, linked, extents bool) error {
	w.kind(KindFile)
	w.entry(dir, name)
	w.uvarint(uint64(mode))
	w.uvarint(uint64(size))
	w.times(atime, mtime)
	var flags uint64
	if linked {
		flags |= FileLinked
	}
	if extents {
		flags |= FileExtents
	}
	w.uvarint(flags)
	return w.Err()
}

// Data writes a data record of p (at most MaxData bytes) at off.
func (w *Writer) Data(off int64, p []byte) error {
	w.kind(KindData)
	w.uvarint(uint64(off))
	w.uvarint(uint64(len(p)))
	w.write(p)
	return w.Err()
}

// Extent writes an extent record: n bytes at off of the file lie at phys
// in the disk image.
func (w *Writer) Extent(off, n, phys int64) error {
	w.kind(KindExtent)
	w.uvarint(uint64(off))
	w.uvarint(uint64(n))
	w.uvarint(uint64(phys))
	return w.Err()
}

// FileEnd ends the file's data.
func (w *Writer) FileEnd() error {
	w.kind(KindFileEnd)
	return w.Err()
}

// Link writes a link record: name in dir is the linked file link.
func (w *Writer) Link(dir int, name string, link int) error {
	w.kind(KindLink)
	w.entry(dir, name)
	w.uvarint(uint64(link))
	return w.Err()
}

// Symlink writes a symlink record.
func (w *Writer) Symlink(dir int, name, target string, atime, mtime time.Time) error {
	w.kind(KindSymlink)
	w.entry(dir, name)
	w.str(target)
	w.times(atime, mtime)
	return w.Err()
}

// Skipped writes a skipped record.
func (w *Writer) Skipped(dir int, name string, mode uint32) error {
	w.kind(KindSkipped)
	w.entry(dir, name)
	w.uvarint(uint64(mode))
	return w.Err()
}

// Error writes an error record, which ends the stream, and flushes it. As
// the first record it has no dir and name (the root could not be read).
func (w *Writer) Error(dir int, name, op string, errno uint64, message string) error {
	first := !w.started
	w.kind(KindError)
	if !first {
		w.entry(dir, name)
	}
	w.str(op[:min(len(op), maxOp)])
	w.uvarint(errno)
	w.str(message[:min(len(message), maxMessage)])
	return w.Flush()
}

// End writes the end record and flushes the stream.
func (w *Writer) End() error {
	w.kind(KindEnd)
	return w.Flush()
}

// Flush writes what is buffered.
func (w *Writer) Flush() error {
	if w.err == nil {
		w.err = w.w.Flush()
	}
	return w.err
}

// Err returns the underlying writer's first error.
func (w *Writer) Err() error { return w.err }
