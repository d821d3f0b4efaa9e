package libgo

import (
	"io"

	"github.com/gokernel/gokernel/sys/dirent"
)

// Decoding getdents64(2) output, and a directory reader built on it.

// Dirent is one directory entry, as sys/dirent decodes it from
// getdents64(2).
type Dirent = dirent.Dirent

// direntBufSize is the buffer a DirReader reads into: 8 KiB, as os uses,
// holds at least 29 of the largest entries (a 255-byte name).
const direntBufSize = 8192

// A DirReader reads the entries of a directory open as an fd, one at a
// time, with getdents64(2). It skips "." and "..", and entries with inode
// number 0 (deleted entries some file systems report). It reads from the
// fd's current directory offset and does not close the fd. A DirReader is
// not safe for concurrent use.
type DirReader struct {
	l    *Libc
	fd   int
	buf  []byte
	ents []Dirent // decoded from the last getdents64, not yet returned
	err  error    // sticky: io.EOF at the end, or the first error
	s    dirent.Stream
}

// NewDirReader returns a reader of the directory open as fd. Its first
// Next makes the first getdents64(2) call.
func (l *Libc) NewDirReader(fd int) *DirReader {
	return &DirReader{l: l, fd: fd}
}

// Next returns the next entry, or io.EOF (never wrapped) after the last
// one. An error from getdents64(2) is returned as its bare errno, and a
// malformed record as EINVAL; after an error or io.EOF, Next returns it
// again.
func (d *DirReader) Next() (Dirent, error) {
	for len(d.ents) == 0 {
		if d.err != nil {
			return Dirent{}, d.err
		}
		d.fill()
	}
	e := d.ents[0]
	d.ents = d.ents[1:]
	return e, nil
}

// fill reads and decodes the next batch of entries, keeping those Next
// returns, or sets d.err.
func (d *DirReader) fill() {
	if d.buf == nil {
		d.buf = make([]byte, direntBufSize)
	}
	n, err := d.l.Getdents(d.fd, d.buf)
	switch {
	case err != nil:
		d.err = err
		return
	case n == 0:
		d.err = io.EOF
		return
	}
	d.ents, d.err = d.s.Batch(d.buf[:n], d.ents[:0]) // the good entries before an error are returned first
}

// ReadAll returns the entries Next has not returned yet, in the order the
// kernel gives them. It reads to the end: its error is nil there, not
// io.EOF, and otherwise the first error, with the entries read before it.
func (d *DirReader) ReadAll() ([]Dirent, error) {
	var all []Dirent
	for {
		e, err := d.Next()
		if err == io.EOF {
			return all, nil
		}
		if err != nil {
			return all, err
		}
		all = append(all, e)
	}
}
