package ufs

import (
	"io"
	"io/fs"
	"path"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/aio"
	"github.com/gokernel/gokernel/libgo"
)

// A File is an open file or directory of an FS. It implements fs.File,
// fs.ReadDirFile, io.ReaderAt, io.WriterAt, io.Seeker, io.WriterTo and
// io.ReaderFrom.
//
// A File owns its fd as internal/poll's FD does: every method holds a
// reference while it uses the fd; Read and ReadDir also hold the read
// lock, Write the write lock, so concurrent Reads (or Writes) do not
// interleave their offsets. Close marks the File closed, waits for the
// methods in progress, then closes the fd, so no method can reach an fd
// number that was closed and reused. Methods on a closed File fail with
// fs.ErrClosed; so does a second Close.
//
// Errors are *fs.PathError with the File's name and a bare errno, except
// io.EOF, which is never wrapped.
//
// A File has no finalizer: one that is dropped without Close keeps its
// fd until the process (or, on LKL, the kernel) ends.
type File struct {
	fsys   *FS
	l      *libgo.Libc
	name   string
	fd     int
	append bool // opened with O_APPEND: WriteAt is refused, as os does

	// pfd is the fd runtime's FD (aio.FD): the reference count and the
	// read lock (Read, ReadDir, Seek) and write lock (Write, ReadFrom).
	// fd is pfd.Sysfd.
	pfd    aio.FD
	dir    *libgo.DirReader // guarded by the read lock
	dirBuf *[]byte          // dir's buffer, from fsys.bufs; guarded by the read lock
}

func newFile(fsys *FS, fd int, name string, flags int) *File {
	f := &File{fsys: fsys, l: fsys.l, name: name, fd: fd, append: flags&unix.O_APPEND != 0}
	f.pfd.Init(fd, aio.File, nil)
	return f
}

// putDirBuf gives the directory buffer back to the FS, once no reader can
// use it (the caller holds the read lock, or is Close after the last
// method).
func (f *File) putDirBuf() {
	if f.dirBuf != nil {
		f.fsys.bufs.Put(f.dirBuf)
		f.dirBuf, f.dir = nil, nil
	}
}

// Name returns the name the File was opened with.
func (f *File) Name() string { return f.name }

// Fd returns the File's fd on its FS's kernel, valid until Close.
func (f *File) Fd() int { return f.fd }

// Close closes the File: it waits for the methods in progress, then closes
// the fd and returns close(2)'s error. A second Close returns fs.ErrClosed.
func (f *File) Close() error {
	if f == nil {
		return &fs.PathError{Op: "close", Err: fs.ErrInvalid}
	}
	err := f.pfd.Close(func() error {
		f.putDirBuf()
		return f.l.Close(f.fd)
	})
	return pathErr("close", f.name, err)
}

// use runs fn with a reference to the fd, or returns a PathError with
// fs.ErrClosed for op.
func (f *File) use(op string, fn func() error) error {
	return f.hold(op, (*aio.FD).Incref, (*aio.FD).Decref, fn)
}

// useRead is use with the read lock held as well.
func (f *File) useRead(op string, fn func() error) error {
	return f.hold(op, (*aio.FD).ReadLock, (*aio.FD).ReadUnlock, fn)
}

// useWrite is use with the write lock held as well.
func (f *File) useWrite(op string, fn func() error) error {
	return f.hold(op, (*aio.FD).WriteLock, (*aio.FD).WriteUnlock, fn)
}

// hold runs fn between lock and unlock of the File's FD.
func (f *File) hold(op string, lock func(*aio.FD) error, unlock func(*aio.FD), fn func() error) error {
	if f == nil {
		return &fs.PathError{Op: op, Err: fs.ErrInvalid}
	}
	if err := lock(&f.pfd); err != nil {
		return &fs.PathError{Op: op, Path: f.name, Err: err}
	}
	defer unlock(&f.pfd)
	return fn()
}

// Read reads up to len(p) bytes. At the end of the file it returns 0 and
// io.EOF; a zero-length p returns 0 and nil at once.
func (f *File) Read(p []byte) (n int, err error) {
	err = f.useRead("read", func() error {
		if len(p) == 0 {
			return nil
		}
		n, err = f.l.Read(f.fd, p)
		return err
	})
	return n, f.ioErr("read", n, len(p), err)
}

// ioErr turns a read's result into its error: io.EOF for 0 bytes of a
// non-empty p, a PathError for an errno.
func (f *File) ioErr(op string, n, want int, err error) error {
	switch {
	case err != nil:
		if _, ok := err.(*fs.PathError); ok {
			return err
		}
		return pathErr(op, f.name, err)
	case n == 0 && want > 0:
		return io.EOF
	}
	return nil
}

// ReadAt reads len(p) bytes at offset off, looping over short reads, as
// io.ReaderAt says; fewer bytes come with io.EOF at the end of the file.
// It does not move the file offset.
func (f *File) ReadAt(p []byte, off int64) (n int, err error) {
	if f != nil && off < 0 {
		return 0, &fs.PathError{Op: "readat", Path: f.name, Err: syscall.EINVAL}
	}
	err = f.use("readat", func() error {
		for n < len(p) {
			m, err := f.l.Pread(f.fd, p[n:], off+int64(n))
			if err != nil {
				return pathErr("readat", f.name, err)
			}
			if m == 0 {
				return io.EOF
			}
			n += m
		}
		return nil
	})
	return n, err
}

// Write writes all of p, looping over short writes.
func (f *File) Write(p []byte) (n int, err error) {
	err = f.useWrite("write", func() error {
		for n < len(p) {
			m, err := f.l.Write(f.fd, p[n:])
			if err != nil {
				return pathErr("write", f.name, err)
			}
			if m == 0 {
				return pathErr("write", f.name, io.ErrShortWrite)
			}
			n += m
		}
		return nil
	})
	return n, err
}

// WriteAt writes all of p at offset off, without moving the file offset.
// A File opened with O_APPEND refuses it with EINVAL, as os.File does:
// Linux would append instead.
func (f *File) WriteAt(p []byte, off int64) (n int, err error) {
	if f != nil && (f.append || off < 0) {
		return 0, &fs.PathError{Op: "writeat", Path: f.name, Err: syscall.EINVAL}
	}
	err = f.use("writeat", func() error {
		for n < len(p) {
			m, err := f.l.Pwrite(f.fd, p[n:], off+int64(n))
			if err != nil {
				return pathErr("writeat", f.name, err)
			}
			if m == 0 {
				return pathErr("writeat", f.name, io.ErrShortWrite)
			}
			n += m
		}
		return nil
	})
	return n, err
}

// Seek sets the file offset, as io.Seeker says (whence io.SeekStart,
// io.SeekCurrent, io.SeekEnd, or unix.SEEK_DATA, unix.SEEK_HOLE). On a
// directory, ReadDir starts again from the new offset.
func (f *File) Seek(offset int64, whence int) (ret int64, err error) {
	err = f.useRead("seek", func() error {
		f.dir = nil
		f.putDirBuf()
		ret, err = f.l.Seek(f.fd, offset, whence)
		return pathErr("seek", f.name, err)
	})
	return ret, err
}

// Stat returns the File's FileInfo, from fstat(2).
func (f *File) Stat() (fs.FileInfo, error) {
	fi := &fileInfo{}
	err := f.use("stat", func() error {
		fi.name = path.Base(f.name)
		return pathErr("stat", f.name, f.l.Fstat(f.fd, &fi.st))
	})
	if err != nil {
		return nil, err
	}
	return fi, nil
}

// Sync flushes the File's data and metadata to its device, with fsync(2).
func (f *File) Sync() error {
	return f.use("sync", func() error { return pathErr("sync", f.name, f.l.Fsync(f.fd)) })
}

// Truncate sets the File's size, with ftruncate(2).
func (f *File) Truncate(size int64) error {
	return f.use("truncate", func() error { return pathErr("truncate", f.name, f.l.Ftruncate(f.fd, size)) })
}

// Chmod sets the File's mode bits, with fchmod(2).
func (f *File) Chmod(mode fs.FileMode) error {
	return f.use("chmod", func() error { return pathErr("chmod", f.name, f.l.Fchmod(f.fd, sysMode(mode))) })
}

// Chtimes sets the File's access and modification times, with
// utimensat(2) on the fd; a zero time leaves that time as it is.
func (f *File) Chtimes(atime, mtime time.Time) error {
	ts := []unix.Timespec{timespec(atime), timespec(mtime)}
	return f.use("chtimes", func() error { return pathErr("chtimes", f.name, f.l.Futimens(f.fd, ts)) })
}

// Chown sets the File's owner and group (-1 leaves one as it is), with
// fchown(2).
func (f *File) Chown(uid, gid int) error {
	return f.use("chown", func() error { return pathErr("chown", f.name, f.l.Fchown(f.fd, uid, gid)) })
}

// ReadDir reads the directory's next entries, in the order the kernel
// gives them, as fs.ReadDirFile says: with n > 0 at most n, and io.EOF
// (bare) once none are left; with n <= 0 all that are left, and a nil
// error at the end. "." and ".." are left out. DirEntry.Info lstats the
// entry by name, through the File's FS.
func (f *File) ReadDir(n int) ([]fs.DirEntry, error) {
	ents, err := f.readDir(n)
	out := make([]fs.DirEntry, len(ents))
	for i, e := range ents {
		out[i] = e
	}
	return out, err
}

// readDir is ReadDir with the concrete entry type, which sorts faster.
func (f *File) readDir(n int) (ents []*dirEntry, err error) {
	err = f.useRead("readdir", func() error {
		if f.dir == nil {
			f.dirBuf = f.fsys.bufs.Get().(*[]byte)
			f.dir = f.l.NewDirReaderBuffer(f.fd, *f.dirBuf)
		}
		for n <= 0 || len(ents) < n {
			d, err := f.dir.Next()
			if err == io.EOF {
				if n > 0 && len(ents) == 0 {
					return io.EOF
				}
				return nil
			}
			if err != nil {
				return pathErr("readdir", f.name, err)
			}
			e := &dirEntry{f: f.fsys, dir: f.name, name: d.Name, typ: direntType(d.Type)}
			if d.Type == unix.DT_UNKNOWN {
				var st unix.Stat_t
				if err := f.l.Fstatat(f.fd, d.Name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
					continue // gone since getdents
				}
				e.typ = FileMode(st.Mode).Type()
			}
			ents = append(ents, e)
		}
		return nil
	})
	return ents, err
}
