package disk

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// The sidecar file of an Overlay (OpenOverlay) holds the blocks written
// over a base, so that they outlive the process. Its format, all integers
// big-endian:
//
//	header, 4096 bytes:
//	  0  8 bytes  magic "GKCOWv1\n"
//	  8  uint64   size of the base in bytes
//	 16  uint32   block size (4096)
//	 20  ...      zero up to 4096
//	then records, each 16 + 4096 bytes, in the order blocks were first written:
//	  0  8 bytes  record magic "GKBLOCK\n"
//	  8  uint64   block number (the block's offset in the base / 4096)
//	 16  4096     the block's bytes (past the base's end of a short last
//	              block: zero)
//
// A block is written once as a record and then overwritten in place. A
// sidecar whose header does not match the base, whose length is not the
// header plus whole records, or with a record of a bad magic, a block
// number past the base or a block seen twice is refused: it was made for
// another image or torn, and reading through it would show wrong data.
const sidecarMagic = "GKCOWv1\n"

const (
	recordMagic   = "GKBLOCK\n"
	sidecarHeader = 4096
	recordHeader  = 16
	recordSize    = recordHeader + blockSize
)

// A SidecarError says what is wrong with a sidecar file.
type SidecarError struct {
	Path  string
	Field string // the header field or record that is wrong
	Err   error
}

func (e *SidecarError) Error() string {
	return fmt.Sprintf("disk: overlay sidecar %s: %s: %v", e.Path, e.Field, e.Err)
}

func (e *SidecarError) Unwrap() error { return e.Err }

type fileStore struct {
	f     *os.File
	path  string
	slots int64 // records in the file
}

// openSidecar opens or creates the sidecar at path for a base of size
// bytes and returns its blocks' index.
func openSidecar(path string, size int64) (*fileStore, map[int64]int64, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, nil, err
	}
	st := &fileStore{f: f, path: path}
	index, err := st.load(size)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return st, index, nil
}

func (s *fileStore) bad(field, format string, args ...any) error {
	return &SidecarError{Path: s.path, Field: field, Err: fmt.Errorf(format, args...)}
}

func (s *fileStore) load(size int64) (map[int64]int64, error) {
	fi, err := s.f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() == 0 { // new: write the header
		hdr := make([]byte, sidecarHeader)
		copy(hdr, sidecarMagic)
		binary.BigEndian.PutUint64(hdr[8:], uint64(size))
		binary.BigEndian.PutUint32(hdr[16:], blockSize)
		if _, err := s.f.WriteAt(hdr, 0); err != nil {
			return nil, err
		}
		return map[int64]int64{}, s.f.Sync()
	}
	if fi.Size() < sidecarHeader {
		return nil, s.bad("header", "%d bytes, shorter than the %d-byte header", fi.Size(), sidecarHeader)
	}
	hdr := make([]byte, sidecarHeader)
	if _, err := s.f.ReadAt(hdr, 0); err != nil {
		return nil, err
	}
	if string(hdr[:8]) != sidecarMagic {
		return nil, s.bad("magic", "%q is not %q: not a gokernel overlay sidecar", hdr[:8], sidecarMagic)
	}
	if got := binary.BigEndian.Uint64(hdr[8:]); got != uint64(size) {
		return nil, s.bad("base size", "made for a base of %d bytes, this base has %d", got, size)
	}
	if got := binary.BigEndian.Uint32(hdr[16:]); got != blockSize {
		return nil, s.bad("block size", "%d, want %d", got, blockSize)
	}
	body := fi.Size() - sidecarHeader
	if body%recordSize != 0 {
		return nil, s.bad(fmt.Sprintf("record %d", body/recordSize), "%d bytes of a %d-byte record at the end (a torn write?)", body%recordSize, recordSize)
	}
	nblocks := (size + blockSize - 1) / blockSize
	index := map[int64]int64{}
	r := bufio.NewReaderSize(io.NewSectionReader(s.f, sidecarHeader, body), 1<<20)
	var rh [recordHeader]byte
	for slot := int64(0); slot < body/recordSize; slot++ {
		if _, err := io.ReadFull(r, rh[:]); err != nil {
			return nil, err
		}
		field := fmt.Sprintf("record %d", slot)
		if !bytes.Equal(rh[:8], []byte(recordMagic)) {
			return nil, s.bad(field, "magic %q is not %q", rh[:8], recordMagic)
		}
		blk := binary.BigEndian.Uint64(rh[8:])
		if blk >= uint64(nblocks) {
			return nil, s.bad(field, "block %d is past the base's %d blocks", blk, nblocks)
		}
		if prev, dup := index[int64(blk)]; dup {
			return nil, s.bad(field, "block %d is already record %d", blk, prev)
		}
		index[int64(blk)] = slot
		s.slots++
		if _, err := r.Discard(blockSize); err != nil {
			return nil, err
		}
	}
	return index, nil
}

func (s *fileStore) read(slot int64, p []byte, off int) error {
	_, err := s.f.ReadAt(p, sidecarHeader+slot*recordSize+recordHeader+int64(off))
	if err != nil {
		return fmt.Errorf("disk: overlay sidecar %s: %w", s.path, err)
	}
	return nil
}

func (s *fileStore) write(slot, blk int64, p []byte, off int) error {
	at := sidecarHeader + slot*recordSize + recordHeader + int64(off)
	fresh := slot == s.slots
	if fresh {
		rec := make([]byte, recordSize) // a new record: header and block in one write
		copy(rec, recordMagic)
		binary.BigEndian.PutUint64(rec[8:], uint64(blk))
		copy(rec[recordHeader:], p)
		p, at = rec, at-recordHeader
	}
	if _, err := s.f.WriteAt(p, at); err != nil {
		return fmt.Errorf("disk: overlay sidecar %s: %w", s.path, err)
	}
	if fresh {
		s.slots++
	}
	return nil
}

func (s *fileStore) reset() error {
	if err := s.f.Truncate(sidecarHeader); err != nil {
		return err
	}
	s.slots = 0
	return s.f.Sync()
}

func (s *fileStore) flush() error { return s.f.Sync() }

func (s *fileStore) close() error {
	if err := s.f.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
		return err
	}
	return nil
}
