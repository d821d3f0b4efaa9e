package libgo

import (
	"bytes"
	"encoding/binary"
	"io"
	"syscall"
)

// Decoding getdents64(2) output, and a directory reader built on it.

// Dirent is one directory entry: a decoded struct linux_dirent64 from
// getdents64(2) (include/linux/dirent.h; the same layout on the host and
// on LKL's generic ABI).
type Dirent struct {
	Ino  uint64 // inode number
	Off  int64  // the directory offset after this entry, for lseek(2)
	Type uint8  // file type: unix.DT_REG, DT_DIR, DT_LNK, …; DT_UNKNOWN if the file system does not say
	Name string // the name, without NUL
}

// Offsets in struct linux_dirent64. The record is read by offset, never by
// casting bytes to a struct, so a short or corrupt buffer is an error
// instead of a read out of bounds.
const (
	direntIno    = 0  // u64 d_ino
	direntOff    = 8  // s64 d_off
	direntReclen = 16 // u16 d_reclen: the record's size, name and padding included
	direntType   = 18 // u8 d_type
	direntName   = 19 // char d_name[], NUL-terminated
)

// ParseDirents decodes the linux_dirent64 records at the start of buf, as
// Getdents fills it, appends them to out in order and returns out and the
// number of bytes decoded. Every record is reported, "." and ".." included.
//
// A record is malformed if its header runs past the end of buf, its
// d_reclen is too small to hold the header and a one-byte name, or runs past
// the end of buf, or its name is empty or has no NUL inside the record. At
// the first malformed record ParseDirents stops and returns the records
// before it, the bytes they took and EINVAL. It never reads outside buf,
// and never panics, whatever buf holds. A d_reclen that is not a multiple
// of 8 is accepted.
func ParseDirents(buf []byte, out []Dirent) ([]Dirent, int, error) {
	off := 0
	for off < len(buf) {
		rec := buf[off:]
		if len(rec) < direntName {
			return out, off, syscall.EINVAL
		}
		reclen := int(binary.NativeEndian.Uint16(rec[direntReclen:]))
		if reclen < direntName+2 || reclen > len(rec) {
			return out, off, syscall.EINVAL
		}
		rec = rec[:reclen]
		name := rec[direntName:]
		nul := bytes.IndexByte(name, 0)
		if nul <= 0 {
			return out, off, syscall.EINVAL
		}
		out = append(out, Dirent{
			Ino:  binary.NativeEndian.Uint64(rec[direntIno:]),
			Off:  int64(binary.NativeEndian.Uint64(rec[direntOff:])),
			Type: rec[direntType],
			Name: string(name[:nul]),
		})
		off += reclen
	}
	return out, off, nil
}

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
	last int64    // the d_off the last batch ended at
	read bool     // a batch has been read (last is set)
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
	all, _, err := ParseDirents(d.buf[:n], d.ents[:0])
	if len(all) > 0 {
		// A batch that ends where the previous one ended leaves the fd's
		// position unchanged, so every later getdents64 returns it again:
		// an endless stream. A hostile image makes Linux 4.9's btrfs do
		// that (a directory item's key offset of 2^64-1; the image
		// campaign's btrfs seeds 2592 and 5190): refuse it as a file
		// system that noticed would, EUCLEAN, rather than read for ever.
		end := all[len(all)-1].Off
		if d.read && end == d.last {
			d.ents, d.err = all[:0], syscall.EUCLEAN
			return
		}
		d.last, d.read = end, true
	}
	d.ents = all[:0]
	for _, e := range all {
		if e.Ino == 0 || e.Name == "." || e.Name == ".." {
			continue
		}
		d.ents = append(d.ents, e)
	}
	if err != nil {
		d.err = err // the good entries before it are returned first
	}
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
