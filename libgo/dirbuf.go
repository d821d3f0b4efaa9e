package libgo

// NewDirReaderBuffer is NewDirReader with the buffer getdents64(2) reads
// into given by the caller, so that a program reading many directories
// can reuse buffers (os keeps a pool of them for the same reason). buf
// should hold at least one entry of the longest name (280 bytes); 8 KiB
// is what NewDirReader allocates. The DirReader uses buf until its last
// Next; the caller must not touch it before then.
func (l *Libc) NewDirReaderBuffer(fd int, buf []byte) *DirReader {
	return &DirReader{l: l, fd: fd, buf: buf}
}
