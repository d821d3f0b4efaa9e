package ufs

import (
	"fmt"
	"io"
	"io/fs"
	"path"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/libgo"
	"github.com/gokernel/gokernel/sys"
)

// An FS is the directory tree under one directory of one kernel: an
// io/fs.FS that can also write. Every name is resolved inside the root,
// one component at a time; nothing reached through an FS lies outside it —
// not through "..", not through a symlink, absolute or climbing. A name or
// symlink target that would leave the root fails with EXDEV (as
// openat2(2)'s RESOLVE_BENEATH does); more than 40 symlinks in one name is
// ELOOP.
//
// The fs.FS methods (Open, ReadDir, ReadFile, Stat, Lstat, ReadLink, Sub,
// Glob) take names as io/fs does: slash-separated, unrooted, without "."
// or ".." elements (fs.ValidPath); any other name is fs.ErrInvalid. The
// writing methods (OpenFile, Mkdir, Remove, …) take names as os.Root does:
// relative, with ".." allowed as long as it stays inside the root. A name
// with a NUL byte is EINVAL.
//
// Errors are *fs.PathError with a bare syscall.Errno inside, so errors.Is
// with fs.ErrNotExist, fs.ErrExist or fs.ErrPermission works. Op is the
// io/fs method's name for the fs.FS methods ("open", "readdir", "stat",
// "lstat", "readlink") and the system call's for the others ("openat",
// "mkdirat", "unlinkat", …). Methods with two names (Rename, Link,
// Symlink) put both in Path, old first, as os.LinkError prints them.
//
// An FS holds its root directory open from its first use until Close; a
// closed FS fails every method with fs.ErrClosed. An FS is safe for
// concurrent use.
//
// Where the kernels differ:
//   - On LKL the tree is inside LKL's own file systems (its root, or a
//     disk image attached with lkl.Kernel.AddDisk); the host sees none of
//     it. Copying between the two is io.Copy between Files of two FSs.
//   - LKL is Linux 4.9: its file systems have 4.9's features (no user
//     xattrs on its root file system, no copy_file_range between
//     different file systems; File.ReadFrom falls back to sendfile or a
//     copy through memory).
//   - Chmod and Chtimes check that the final component is not a symlink
//     and then act on the name, as os.Root does; a concurrent rename
//     between the two steps is not guarded against on either kernel.
type FS struct {
	l    *libgo.Libc
	dir  string // the root's name, for Name
	r    *root
	bufs *sync.Pool // getdents buffers (*[]byte), shared with Sub's results
}

// direntBuf is the size of a getdents buffer, as os and libgo use.
const direntBuf = 8192

// New returns the file system under the directory root of kernel k (nil:
// the process default kernel). root is a path on that kernel, absolute or
// relative to its working directory. Nothing is opened until the first
// method call, which fails if root is not a directory.
func New(k sys.Kernel, root string) *FS {
	l := libgo.New(k)
	return newFS(l, root, nil, func() (int, error) {
		return l.Open(root, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	})
}

func newFS(l *libgo.Libc, dir string, bufs *sync.Pool, open func() (int, error)) *FS {
	if bufs == nil {
		bufs = &sync.Pool{New: func() any { b := make([]byte, direntBuf); return &b }}
	}
	r := &root{l: l, open: open, fd: -1}
	fsys := &FS{l: l, dir: dir, r: r, bufs: bufs}
	// An FS nobody closes (fs.Sub's results, say) releases its fd when
	// it is garbage.
	runtime.AddCleanup(fsys, func(r *root) { r.close() }, r)
	return fsys
}

// Name returns the root directory's name, as given to New (and joined
// with the directory for an FS made by Sub).
func (fsys *FS) Name() string { return fsys.dir }

// Kernel returns the kernel fsys's files are on.
func (fsys *FS) Kernel() sys.Kernel { return fsys.l.Kernel() }

// Close releases the root directory. Methods in progress finish; later
// ones fail with fs.ErrClosed, and Files already open stay usable. A
// second Close returns fs.ErrClosed.
func (fsys *FS) Close() error {
	if err := fsys.r.close(); err != nil {
		return &fs.PathError{Op: "close", Path: fsys.dir, Err: err}
	}
	return nil
}

// pathErr wraps err, if not nil, in an *fs.PathError.
func pathErr(op, name string, err error) error {
	if err == nil {
		return nil
	}
	return &fs.PathError{Op: op, Path: name, Err: err}
}

// checkValid rejects a name fs.ValidPath rejects, or one with a NUL.
func checkValid(op, name string) error {
	if !fs.ValidPath(name) {
		return &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	if strings.IndexByte(name, 0) >= 0 {
		return &fs.PathError{Op: op, Path: name, Err: syscall.EINVAL}
	}
	return nil
}

// checkName rejects a name a writing method cannot take: empty, or with a
// NUL. Absolute names and escapes are rejected by resolve.
func checkName(op, name string) error {
	if strings.IndexByte(name, 0) >= 0 {
		return &fs.PathError{Op: op, Path: name, Err: syscall.EINVAL}
	}
	return nil
}

// Open opens the named file or directory for reading, following symlinks
// inside the root. It implements fs.FS.
func (fsys *FS) Open(name string) (fs.File, error) {
	if err := checkValid("open", name); err != nil {
		return nil, err
	}
	f, err := fsys.openFile(name, unix.O_RDONLY, 0)
	if err != nil {
		return nil, pathErr("open", name, err)
	}
	return f, nil
}

// openFile opens name with flags (O_NOFOLLOW and O_CLOEXEC added) and
// returns it as a File; errors are bare.
func (fsys *FS) openFile(name string, flags int, perm uint32) (*File, error) {
	fd, err := resolve(fsys, name, nil, func(parent int, base string) (int, error) {
		fd, err := fsys.l.Openat(parent, base, flags|unix.O_NOFOLLOW, perm)
		if err == syscall.ELOOP {
			if flags&(unix.O_CREAT|unix.O_EXCL) == unix.O_CREAT|unix.O_EXCL {
				return -1, syscall.EEXIST
			}
			return -1, symlinkOr(fsys.l, parent, base, err)
		}
		return fd, err
	})
	if err != nil {
		return nil, err
	}
	return newFile(fsys, fd, name, flags), nil
}

// ReadDir reads the named directory and returns its entries sorted by
// name. It implements fs.ReadDirFS.
func (fsys *FS) ReadDir(name string) ([]fs.DirEntry, error) {
	if err := checkValid("readdir", name); err != nil {
		return nil, err
	}
	f, err := fsys.openFile(name, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, pathErr("readdir", name, err)
	}
	defer f.Close()
	ents, err := f.readDir(-1)
	slices.SortFunc(ents, func(a, b *dirEntry) int { return strings.Compare(a.name, b.name) })
	out := make([]fs.DirEntry, len(ents))
	for i, e := range ents {
		out[i] = e
	}
	return out, err
}

// errNegativeSize is the error for a regular file whose size is negative:
// only corrupt metadata has one.
func errNegativeSize(size int64) error {
	return fmt.Errorf("negative file size %d: %w", size, syscall.EUCLEAN)
}

// readFileHint is the most ReadFile allocates on a file's word before it
// has read the bytes.
const readFileHint = 64 << 20

// ReadFile reads the named file and returns its contents. It implements
// fs.ReadFileFS.
func (fsys *FS) ReadFile(name string) ([]byte, error) {
	if err := checkValid("open", name); err != nil {
		return nil, err
	}
	f, err := fsys.openFile(name, unix.O_RDONLY, 0)
	if err != nil {
		return nil, pathErr("open", name, err)
	}
	defer f.Close()
	var st unix.Stat_t
	size := 0
	if err := fsys.l.Fstat(f.fd, &st); err == nil && st.Mode&unix.S_IFMT == unix.S_IFREG {
		if st.Size < 0 {
			// Corrupt metadata (a hostile image): such a file reads
			// without end on LKL's ext4.
			return nil, pathErr("read", name, errNegativeSize(st.Size))
		}
		// The size only sizes the first buffer: an image may claim
		// far more than it holds, and what is read decides.
		size = int(min(st.Size, readFileHint))
	}
	data := make([]byte, 0, size+1) // +1: the read that sees the end
	for {
		if len(data) == cap(data) {
			data = slices.Grow(data, 512)
		}
		n, err := f.Read(data[len(data):cap(data)])
		data = data[:len(data)+n]
		if err == io.EOF {
			return data, nil
		}
		if err != nil {
			return data, err
		}
	}
}

// Stat returns a FileInfo for the named file, following symlinks. It
// implements fs.StatFS.
func (fsys *FS) Stat(name string) (fs.FileInfo, error) {
	return fsys.stat("stat", name, true)
}

// Lstat is Stat for the symlink itself when name names one. It
// implements fs.ReadLinkFS.
func (fsys *FS) Lstat(name string) (fs.FileInfo, error) {
	return fsys.stat("lstat", name, false)
}

func (fsys *FS) stat(op, name string, follow bool) (fs.FileInfo, error) {
	if err := checkValid(op, name); err != nil {
		return nil, err
	}
	fi, err := resolve(fsys, name, nil, func(parent int, base string) (*fileInfo, error) {
		fi := &fileInfo{name: path.Base(name)}
		if err := fsys.l.Fstatat(parent, base, &fi.st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return nil, err
		}
		if follow && fi.st.Mode&unix.S_IFMT == unix.S_IFLNK {
			return nil, symlinkOr(fsys.l, parent, base, syscall.ELOOP)
		}
		return fi, nil
	})
	if err != nil {
		return nil, pathErr(op, name, err)
	}
	return fi, nil
}

// ReadLink returns the target of the named symlink, as stored: it is not
// resolved, and may point outside the root. It implements fs.ReadLinkFS.
func (fsys *FS) ReadLink(name string) (string, error) {
	if err := checkValid("readlink", name); err != nil {
		return "", err
	}
	target, err := resolve(fsys, name, nil, func(parent int, base string) (string, error) {
		return readlinkat(fsys.l, parent, base)
	})
	return target, pathErr("readlink", name, err)
}

// Sub returns the file system under dir, confined to it: symlinks in the
// result cannot climb back into fsys. The directory is resolved (inside
// fsys) and opened on the result's first use; the result holds it open
// until its Close, or until it is garbage. It implements fs.SubFS.
func (fsys *FS) Sub(dir string) (fs.FS, error) {
	if err := checkValid("sub", dir); err != nil {
		return nil, err
	}
	if dir == "." {
		return fsys, nil
	}
	return fsys.sub(dir), nil
}

// sub is Sub for a valid dir.
func (fsys *FS) sub(dir string) *FS {
	return newFS(fsys.l, path.Join(fsys.dir, dir), fsys.bufs, func() (int, error) {
		return resolve(fsys, dir, nil, func(parent int, base string) (int, error) {
			return openDirNoFollow(fsys.l, parent, base)
		})
	})
}

// Glob returns the names of the files matching pattern, as fs.Glob does,
// following symlinks. It implements fs.GlobFS.
func (fsys *FS) Glob(pattern string) ([]string, error) {
	// fs.Glob would call this method again on fsys itself.
	return fs.Glob(noGlob{fsys}, pattern)
}

// noGlob hides FS.Glob from fs.Glob.
type noGlob struct{ fs.ReadDirFS }
