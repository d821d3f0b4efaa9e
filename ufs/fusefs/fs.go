package fusefs

import (
	"errors"
	"io"
	"io/fs"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/libgo"
	"github.com/gokernel/gokernel/ufs"
)

// server is what every node of one mount shares: the FS it serves,
// libgo on the FS's kernel, for the calls ufs has no method for, and the
// files it keeps open.
type server struct {
	fsys  *ufs.FS
	l     *libgo.Libc
	files files
	// noOpen is set on a read-only mount whose host kernel can do
	// without OPEN and RELEASE (see node.Open).
	noOpen atomic.Bool
	// open are the files of the handles the host kernel has opened
	// (OPEN, CREATE, OPENDIR) and not yet released.
	open openFiles
}

// openFiles are the files behind a mount's open handles. The host kernel
// releases a handle (RELEASE, RELEASEDIR) asynchronously after the last
// close(2); when the mount goes first (an unmount right after a program
// exits, an aborted connection), the release never comes, so Server.Wait
// closes what is left here.
type openFiles struct {
	mu    sync.Mutex
	files map[*ufs.File]struct{}
}

// add records f as a handle's file.
func (o *openFiles) add(f *ufs.File) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.files == nil {
		o.files = map[*ufs.File]struct{}{}
	}
	o.files[f] = struct{}{}
}

// release closes f, a handle's file, when the kernel releases the handle.
func (o *openFiles) release(f *ufs.File) error {
	o.mu.Lock()
	_, ok := o.files[f]
	delete(o.files, f)
	o.mu.Unlock()
	if !ok {
		return nil // closed by closeAll already
	}
	return f.Close()
}

// closeAll closes the files of the handles never released.
func (o *openFiles) closeAll() {
	o.mu.Lock()
	files := o.files
	o.files = nil
	o.mu.Unlock()
	for f := range files {
		f.Close()
	}
}

// lstat fills st for the file p names in the FS, without following a
// final symlink. ufs's Lstat takes io/fs names, which must be UTF-8; a
// name that is not (Linux allows any bytes but '/' and NUL) is stat'ed
// through an O_PATH fd instead.
func (s *server) lstat(p string, st *unix.Stat_t) error {
	if fs.ValidPath(p) {
		fi, err := s.fsys.Lstat(p)
		if err != nil {
			return err
		}
		*st = *fi.Sys().(*unix.Stat_t)
		return nil
	}
	return s.withPath(p, unix.O_PATH, func(fd int) error { return s.l.Fstat(fd, st) })
}

// withPath opens p in the FS with flags (O_NOFOLLOW is added by ufs: with
// O_PATH a final symlink is opened itself), runs fn on the fd and closes
// it.
func (s *server) withPath(p string, flags int, fn func(fd int) error) error {
	f, err := s.fsys.OpenFile(p, flags, 0)
	if err != nil {
		return err
	}
	err = fn(f.Fd())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// errno returns the errno FUSE answers for err: the syscall.Errno inside
// (ufs wraps every kernel error in an *fs.PathError around one), EBADF
// for a closed FS or File, EINVAL for a name ufs refuses, EIO otherwise.
func errno(err error) syscall.Errno {
	if err == nil || err == io.EOF {
		return 0
	}
	var e syscall.Errno
	switch {
	case errors.As(err, &e):
		return e
	case errors.Is(err, fs.ErrClosed):
		return syscall.EBADF
	case errors.Is(err, fs.ErrInvalid):
		return syscall.EINVAL
	}
	return syscall.EIO
}

// setAttr fills a FUSE attribute record from stat(2) output.
func setAttr(a *fuse.Attr, st *unix.Stat_t) {
	a.Ino = st.Ino
	a.Size = uint64(st.Size)
	a.Blocks = uint64(st.Blocks)
	a.Atime, a.Atimensec = uint64(st.Atim.Sec), uint32(st.Atim.Nsec)
	a.Mtime, a.Mtimensec = uint64(st.Mtim.Sec), uint32(st.Mtim.Nsec)
	a.Ctime, a.Ctimensec = uint64(st.Ctim.Sec), uint32(st.Ctim.Nsec)
	a.Mode = st.Mode
	a.Nlink = uint32(st.Nlink)
	a.Uid, a.Gid = st.Uid, st.Gid
	a.Rdev = uint32(st.Rdev)
	a.Blksize = uint32(st.Blksize)
}
