package dirent

import (
	"bytes"
	"encoding/binary"
	"syscall"
)

// A Dirent is one directory entry: a decoded struct linux_dirent64.
type Dirent struct {
	Ino  uint64 // inode number
	Off  int64  // the directory offset after this entry, for lseek(2)
	Type uint8  // file type: unix.DT_REG, DT_DIR, DT_LNK, …; DT_UNKNOWN if the file system does not say
	Name string // the name, without NUL
}

// Offsets in struct linux_dirent64.
const (
	offIno    = 0  // u64 d_ino
	offOff    = 8  // s64 d_off
	offReclen = 16 // u16 d_reclen: the record's size, name and padding included
	offType   = 18 // u8 d_type
	offName   = 19 // char d_name[], NUL-terminated
)

// Parse decodes the linux_dirent64 records at the start of buf, as
// getdents64 fills it, appends them to out in order and returns out and the
// number of bytes decoded. Every record is reported, "." and ".." included.
//
// A record is malformed if its header runs past the end of buf, its
// d_reclen is too small to hold the header and a one-byte name, or runs past
// the end of buf, or its name is empty or has no NUL inside the record. At
// the first malformed record Parse stops and returns the records before
// it, the bytes they took and EINVAL. It never reads outside buf, and never
// panics, whatever buf holds. A d_reclen that is not a multiple of 8 is
// accepted.
func Parse(buf []byte, out []Dirent) ([]Dirent, int, error) {
	off := 0
	for off < len(buf) {
		rec := buf[off:]
		if len(rec) < offName {
			return out, off, syscall.EINVAL
		}
		reclen := int(binary.NativeEndian.Uint16(rec[offReclen:]))
		if reclen < offName+2 || reclen > len(rec) {
			return out, off, syscall.EINVAL
		}
		rec = rec[:reclen]
		name := rec[offName:]
		nul := bytes.IndexByte(name, 0)
		if nul <= 0 {
			return out, off, syscall.EINVAL
		}
		out = append(out, Dirent{
			Ino:  binary.NativeEndian.Uint64(rec[offIno:]),
			Off:  int64(binary.NativeEndian.Uint64(rec[offOff:])),
			Type: rec[offType],
			Name: string(name[:nul]),
		})
		off += reclen
	}
	return out, off, nil
}

// Append encodes d as a struct linux_dirent64 at the end of buf, its name
// NUL-terminated and padded with zeros to a multiple of 8 bytes, as Linux
// writes it, and returns the extended buffer. A name that is empty, holds
// a NUL or would make the record longer than d_reclen can say is not
// encoded: EINVAL.
func Append(buf []byte, d Dirent) ([]byte, error) {
	n := (offName + len(d.Name) + 1 + 7) &^ 7
	if d.Name == "" || bytes.IndexByte([]byte(d.Name), 0) >= 0 || n > 0xffff {
		return buf, syscall.EINVAL
	}
	start := len(buf)
	buf = append(buf, make([]byte, n)...)
	rec := buf[start:]
	binary.NativeEndian.PutUint64(rec[offIno:], d.Ino)
	binary.NativeEndian.PutUint64(rec[offOff:], uint64(d.Off))
	binary.NativeEndian.PutUint16(rec[offReclen:], uint16(n))
	rec[offType] = d.Type
	copy(rec[offName:], d.Name)
	return buf, nil
}

// A Stream follows one directory's getdents64 batches, from the fd's
// offset when it starts (a seek of the fd starts a new Stream). The zero
// value is ready.
type Stream struct {
	last int64 // the d_off the last batch ended at
	read bool  // a batch has been decoded (last is set)
}

// Decode decodes one batch (getdents64's n > 0 bytes in buf) with Parse
// and appends every entry to out, "." and ".." included. At a malformed
// record it appends the good entries before it and returns Parse's EINVAL.
//
// A batch that ends at the d_off the previous batch ended at leaves the
// fd's position where it was, so every later getdents64 would return it
// again: an endless stream. A hostile image makes Linux 4.9's btrfs do
// that (a directory item's key offset of 2^64-1; the image campaign's
// btrfs seeds 2592 and 5190). Decode refuses such a batch, appending
// nothing, with EUCLEAN, as a file system that noticed would, so that
// whoever reads the directory stops instead of reading for ever.
func (s *Stream) Decode(buf []byte, out []Dirent) ([]Dirent, error) {
	start := len(out)
	all, _, err := Parse(buf, out)
	if len(all) > start {
		end := all[len(all)-1].Off
		if s.read && end == s.last {
			return out[:start], syscall.EUCLEAN
		}
		s.last, s.read = end, true
	}
	return all, err
}

// Batch is Decode for a directory listing: it appends only the entries a
// listing returns, not ".", not "..", and not those with inode number 0
// (deleted entries some file systems report).
func (s *Stream) Batch(buf []byte, out []Dirent) ([]Dirent, error) {
	start := len(out)
	all, err := s.Decode(buf, out)
	kept := all[:start]
	for _, e := range all[start:] {
		if e.Ino == 0 || e.Name == "." || e.Name == ".." {
			continue
		}
		kept = append(kept, e)
	}
	return kept, err
}
