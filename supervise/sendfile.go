//go:build amd64

package supervise

import (
	"encoding/binary"
	"errors"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/sys"
)

// sendfileChunk is the most sendfileFromHost moves in one call.
const sendfileChunk = 256 << 10

// sendfileFromHost answers sendfile(out, in, offset, count) from a host
// regular file to an fd of ours (net/http's FileServer sends every file
// so): it reads the file through a copy of the process's fd and writes
// to ours, and gives back to the file's offset what was read but not
// written. Any other host fd (a pipe: what is read cannot be given back)
// is EINVAL, on which callers fall back to read and write.
func (c *call) sendfileFromHost() result {
	l := c.p.get(int(int32(c.args[0])))
	if l == nil {
		return result{err: errBadFD}
	}
	defer c.p.put(c.s, l)
	in, e := c.hostFD(int(int32(c.args[1])))
	if e != 0 {
		return result{err: e}
	}
	defer c.s.host.Close(in)
	var st unix.Stat_t
	if err := c.s.host.Fstat(in, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return result{err: syscall.EINVAL}
	}
	buf := make([]byte, min(c.args[3], sendfileChunk))
	if len(buf) == 0 {
		return result{}
	}
	var off [8]byte
	var n int
	var err error
	if c.args[2] != 0 {
		if e := readMem(c.tid, c.args[2], off[:]); e != 0 {
			return result{err: e}
		}
		n, err = c.s.host.Pread(in, buf, int64(binary.NativeEndian.Uint64(off[:])))
	} else {
		n, err = c.s.host.Read(in, buf)
	}
	if err != nil {
		return result{err: errnoOf(err)}
	}
	if n == 0 {
		return result{}
	}
	w, _, e := sys.SyscallOn(c.s.k, unix.SYS_WRITE, uintptr(l.fd), uintptr(unsafe.Pointer(&buf[0])), uintptr(n), 0, 0, 0)
	if e != 0 {
		w = 0
	}
	if c.args[2] != 0 {
		binary.NativeEndian.PutUint64(off[:], binary.NativeEndian.Uint64(off[:])+uint64(w))
		if e := writeMem(c.tid, c.args[2], off[:]); e != 0 {
			return result{err: e}
		}
	} else if int(w) < n {
		c.s.host.Seek(in, int64(w)-int64(n), unix.SEEK_CUR)
	}
	return result{val: w, err: e}
}

// errnoOf is the errno inside err (EIO if none).
func errnoOf(err error) sys.Errno {
	var e sys.Errno
	if errors.As(err, &e) {
		return e
	}
	return syscall.EIO
}
