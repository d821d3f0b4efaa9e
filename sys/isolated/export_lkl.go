//go:build lkl

package isolated

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/sys/datamap"
	"github.com/gokernel/gokernel/sys/dirent"
	"github.com/gokernel/gokernel/sys/host"
	"github.com/gokernel/gokernel/sys/lkl"
	"github.com/gokernel/gokernel/sys/treestream"
)

// export serves a ctlExport request (export.go) in the child: it takes
// the pipe's write end from the parent, duplicates the directory's fd (the
// parent closes its own once answered) and walks the tree on a goroutine
// of its own.
func (s *server) export(a [6]uintptr) syscall.Errno {
	w, err := s.takeFD(int(a[1]))
	if err != nil {
		var e syscall.Errno
		if errors.As(err, &e) {
			return e
		}
		return syscall.EBADF
	}
	dfd, _, e := s.k.Syscall(unix.SYS_FCNTL, a[0], unix.F_DUPFD_CLOEXEC, 0, 0, 0, 0)
	if e != 0 {
		host.Close(s.h, w)
		return e
	}
	x := &exporter{k: s.k, w: treestream.NewWriter(hostWriter{s.h, w}), links: map[[2]uint64]int{}, extents: a[2] == 1}
	go func() {
		defer host.Close(s.h, w)
		x.run(int(dfd))
	}()
	return 0
}

// exportHook, set only by this package's tests, runs in the child before
// the walk takes each entry (to stall it).
var exportHook func(name string)

// hostWriter writes to a host fd: the pipe's write end.
type hostWriter struct {
	h  host.Caller
	fd int
}

func (w hostWriter) Write(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, _, e := host.Call(w.h, unix.SYS_WRITE, uintptr(w.fd), uintptr(unsafe.Pointer(&p[n])), uintptr(len(p)-n), 0, 0, 0)
		switch e {
		case 0:
			n += int(m)
		case syscall.EINTR:
		default:
			return n, e
		}
	}
	return n, nil
}

// exporter walks a tree on the child's LKL, as ufs.Copier walks one
// through system calls (the same order, the same calls per file: openat
// with O_NOFOLLOW, fstat, pread or SEEK_DATA/SEEK_HOLE and pread for a
// large file, close), and writes what it finds as a treestream.
type exporter struct {
	k      *lkl.Kernel
	w      *treestream.Writer
	dirs   int
	links  map[[2]uint64]int // (dev, ino) of each linked file sent -> its link index
	nlinks int
	st     unix.Stat_t
	data   []byte // a data record's bytes
	dents  []byte // getdents64's buffer
	// flushed is when the stream was last flushed.
	flushed time.Time
	// extents: send a file whose bytes all lie plainly in the image as
	// its extents (the parent holds the image: ufs's direct copies).
	extents bool
	maps    datamap.Mapper // FS_IOC_FIEMAP's buffers
	name    []byte         // cname's
}

// flushEvery is how often a walk flushes the stream it has buffered.
const flushEvery = time.Second

// smallFile is ufs.Copier's chunkSize: a file of at most this size is read
// whole, with no look for holes; a larger one run by run.
const smallFile = 8 << 20

// walkErr is a failed call of the walk, sent as the error record.
type walkErr struct {
	dir  int
	name string
	op   string
	e    syscall.Errno
	msg  string // what failed, if the errno does not say
}

func (e *walkErr) Error() string { return e.op + " " + e.name + ": " + e.e.Error() }

func (x *exporter) run(dfd int) {
	defer x.close(dfd)
	x.data = make([]byte, treestream.MaxData)
	x.flushed = time.Now()
	x.dents = make([]byte, 32<<10)
	err := x.root(dfd)
	var we *walkErr
	switch {
	case err == nil:
		x.w.End()
	case errors.As(err, &we):
		x.w.Error(we.dir, we.name, we.op, uint64(we.e), we.msg)
	}
	// else the stream broke: the parent stopped reading.
}

func (x *exporter) close(fd int) {
	x.k.Syscall(unix.SYS_CLOSE, uintptr(fd), 0, 0, 0, 0, 0)
}

func (x *exporter) fstat(fd int) syscall.Errno {
	_, _, e := x.k.Syscall(unix.SYS_FSTAT, uintptr(fd), uintptr(unsafe.Pointer(&x.st)), 0, 0, 0, 0)
	return e
}

func (x *exporter) root(dfd int) error {
	if e := x.fstat(dfd); e != 0 {
		return &walkErr{0, "", "fstat", e, ""}
	}
	if x.st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return &walkErr{0, "", "export", syscall.ENOTDIR, ""}
	}
	if err := x.w.Root(x.st.Mode, spec(x.st.Atim), spec(x.st.Mtim)); err != nil {
		return err
	}
	x.dirs = 1
	return x.dir(dfd, 0)
}

// cname returns name as a C string, in a buffer reused by the next call
// (a name from readDir has no NUL).
func (x *exporter) cname(name string) *byte {
	x.name = append(append(x.name[:0], name...), 0)
	return &x.name[0]
}

// spec converts a stat(2) timestamp.
func spec(ts unix.Timespec) time.Time { return time.Unix(ts.Unix()) }

// readDir reads the directory at fd (dir idx), sorted by name, with
// sys/dirent's decoder and stream check, as libgo's DirReader reads
// in-process: the same entries left out (".", "..", inode 0), EINVAL for a
// malformed record, EUCLEAN for a stream that does not move (LKL 4.9's
// btrfs on the campaign's seed 2592).
func (x *exporter) readDir(fd, idx int) ([]dirent.Dirent, error) {
	var ents []dirent.Dirent
	var s dirent.Stream
	for {
		n, _, e := x.k.Syscall(unix.SYS_GETDENTS64, uintptr(fd), uintptr(unsafe.Pointer(&x.dents[0])), uintptr(len(x.dents)), 0, 0, 0)
		if e == 0 && n > uintptr(len(x.dents)) {
			e = syscall.EIO
		}
		if e != 0 {
			return nil, &walkErr{idx, "", "getdents64", e, ""}
		}
		if n == 0 {
			break
		}
		var err error
		if ents, err = s.Batch(x.dents[:n], ents); err != nil {
			e, _ := err.(syscall.Errno) // EINVAL or EUCLEAN
			return nil, &walkErr{idx, "", "getdents64", e, ""}
		}
	}
	slices.SortFunc(ents, func(a, b dirent.Dirent) int { return strings.Compare(a.Name, b.Name) })
	return ents, nil
}

// dir sends the entries of the directory at fd, dir idx.
func (x *exporter) dir(fd, idx int) error {
	ents, err := x.readDir(fd, idx)
	if err != nil {
		return err
	}
	for _, ent := range ents {
		if exportHook != nil {
			exportHook(ent.Name)
		}
		// A slow walk's records go out at least every flushEvery, so
		// that the parent's progress deadline sees it move.
		if now := time.Now(); now.Sub(x.flushed) >= flushEvery {
			x.flushed = now
			if err := x.w.Flush(); err != nil {
				return err
			}
		}
		if !treestream.ValidName(ent.Name) {
			// A name a file system should not have (a hostile image's):
			// the parent would refuse the stream.
			return &walkErr{idx, "", "getdents64", syscall.EUCLEAN, ""}
		}
		if ent.Type == unix.DT_REG {
			err = x.file(fd, idx, ent.Name)
		} else {
			err = x.entry(fd, idx, ent.Name, ent.Type)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// entry sends a directory entry that getdents did not say is a regular
// file, after an lstat. An entry of unknown type (typ DT_UNKNOWN) whose
// lstat fails is left out, as ufs's ReadDir leaves it ("gone since
// getdents"), so the export copies what the Copier's own walk copies.
func (x *exporter) entry(fd, idx int, name string, typ uint8) error {
	p := x.cname(name)
	_, _, e := x.k.Syscall(unix.SYS_NEWFSTATAT, uintptr(fd), uintptr(unsafe.Pointer(p)), uintptr(unsafe.Pointer(&x.st)), unix.AT_SYMLINK_NOFOLLOW, 0, 0)
	if e != 0 {
		if typ == unix.DT_UNKNOWN {
			return nil
		}
		return &walkErr{idx, name, "lstat", e, ""}
	}
	switch x.st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		mode, at, mt := x.st.Mode, spec(x.st.Atim), spec(x.st.Mtim)
		sub, _, e := x.k.Syscall(unix.SYS_OPENAT, uintptr(fd), uintptr(unsafe.Pointer(p)), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0, 0, 0)
		if e != 0 {
			return &walkErr{idx, name, "openat", e, ""}
		}
		defer x.close(int(sub))
		if err := x.w.Dir(idx, name, mode, at, mt); err != nil {
			return err
		}
		x.dirs++
		return x.dir(int(sub), x.dirs-1)
	case unix.S_IFLNK:
		at, mt := spec(x.st.Atim), spec(x.st.Mtim)
		buf := x.data[:treestream.MaxTarget+1]
		n, _, e := x.k.Syscall(unix.SYS_READLINKAT, uintptr(fd), uintptr(unsafe.Pointer(p)), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0, 0)
		if e != 0 {
			return &walkErr{idx, name, "readlink", e, ""}
		}
		if n == 0 || n > treestream.MaxTarget {
			return &walkErr{idx, name, "readlink", syscall.ENAMETOOLONG, ""}
		}
		return x.w.Symlink(idx, name, string(buf[:n]), at, mt)
	case unix.S_IFREG:
		return x.file(fd, idx, name)
	}
	return x.w.Skipped(idx, name, x.st.Mode)
}

// file sends the regular file name of the directory at fd.
func (x *exporter) file(dfd, idx int, name string) error {
	p := x.cname(name)
	// O_NONBLOCK: a fifo put in its place since getdents does not block.
	fd, _, e := x.k.Syscall(unix.SYS_OPENAT, uintptr(dfd), uintptr(unsafe.Pointer(p)), unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0, 0, 0)
	if e != 0 {
		return &walkErr{idx, name, "openat", e, ""}
	}
	defer x.k.Syscall(unix.SYS_CLOSE, fd, 0, 0, 0, 0, 0)
	if e := x.fstat(int(fd)); e != 0 {
		return &walkErr{idx, name, "fstat", e, ""}
	}
	st := &x.st
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return x.w.Skipped(idx, name, st.Mode)
	}
	if st.Size < 0 { // corrupt metadata (a hostile image), as ufs says it
		return &walkErr{idx, name, "fstat", syscall.EUCLEAN, fmt.Sprintf("negative file size %d", st.Size)}
	}
	size := st.Size
	if st.Nlink > 1 {
		key := [2]uint64{st.Dev, st.Ino}
		if l, ok := x.links[key]; ok {
			return x.w.Link(idx, name, l)
		}
		x.links[key] = x.nlinks
		x.nlinks++
	}
	var exts []datamap.Extent
	useExtents := false
	if x.extents {
		exts, useExtents = x.maps.Extents(x.k, int(fd), size)
	}
	if err := x.w.File(idx, name, st.Mode, size, spec(st.Atim), spec(st.Mtim), st.Nlink > 1, useExtents); err != nil {
		return err
	}
	if useExtents {
		for _, e := range exts {
			if err := x.w.Extent(e.Off, e.Len, e.Phys); err != nil {
				return err
			}
		}
		return x.w.FileEnd()
	}
	// As ufs reads a small file: whole, to its end now (a file that
	// shrank is sent as it is now), without looking for holes; a large
	// one run by run.
	runs := func(yield func(int64, int64) bool) { yield(0, size) }
	if size > smallFile {
		runs = datamap.Runs(x.k, int(fd), size)
	}
	for start, end := range runs {
		for off := start; off < end; {
			n, err := x.read(int(fd), idx, name, off, end-off)
			if err != nil {
				return err
			}
			if n == 0 {
				break
			}
			off += int64(n)
		}
	}
	return x.w.FileEnd()
}

// read reads up to MaxData bytes (at most max) at off and sends them; 0 at
// the end of the file.
func (x *exporter) read(fd, idx int, name string, off, max int64) (int, error) {
	buf := x.data[:min(int64(len(x.data)), max)]
	n, _, e := x.k.Syscall(unix.SYS_PREAD64, uintptr(fd), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), uintptr(off), 0, 0)
	if e != 0 {
		return 0, &walkErr{idx, name, "pread", e, ""}
	}
	if n == 0 {
		return 0, nil
	}
	if n > uintptr(len(buf)) {
		return 0, &walkErr{idx, name, "pread", syscall.EIO, ""}
	}
	return int(n), x.w.Data(off, buf[:n])
}
