package ufs

import (
	"slices"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/aio"
	"github.com/gokernel/gokernel/libgo"
)

// Confinement: every name is resolved one component at a time from the
// root directory's fd, as os.Root does (os/root_openat.go), because LKL 4.9
// has no openat2(2) and RESOLVE_BENEATH.

const (
	// maxSymlinks is how many symlinks one resolution follows before it
	// fails with ELOOP: Linux's own limit (MAXSYMLINKS).
	maxSymlinks = 40
	// maxSteps and maxRestarts stop hostile paths: a resolution that has
	// taken more than maxSteps steps and restarted from the root (for
	// "..") more than maxRestarts times fails with ENAMETOOLONG.
	maxSteps    = 255
	maxRestarts = 8
)

// errEscapes is the error of a name, or a symlink target, that would leave
// the root: EXDEV, as openat2(2) says under RESOLVE_BENEATH.
const errEscapes = syscall.EXDEV

// root is the directory an FS is confined to, open as an fd. The fd is
// reference-counted by the fd runtime's Refs (aio.Refs), as os.Root's is:
// an operation holds a reference while it uses the fd, and Close lets the
// last reference close it, so closing an FS during an operation is safe.
// The fd is opened on first use.
type root struct {
	l    *libgo.Libc
	open func() (int, error) // opens the directory
	refs aio.Refs

	mu sync.Mutex
	fd int // -1 until opened, and after the last reference of a closed root; guarded by mu
}

// incref returns the root's fd, opening it if this is the first use, and
// holds a reference to it until decref. A closed root is fs.ErrClosed.
func (r *root) incref() (int, error) {
	if !r.refs.Incref() {
		return -1, aio.File.ErrClosed()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fd < 0 {
		fd, err := r.open()
		if err != nil {
			r.mu.Unlock()
			r.decref()
			r.mu.Lock()
			return -1, err
		}
		r.fd = fd
	}
	return r.fd, nil
}

func (r *root) decref() {
	if r.refs.Decref() {
		r.release()
	}
}

// close marks the root closed; the fd is closed now, or by the last
// operation still using it. A second close is fs.ErrClosed.
func (r *root) close() error {
	ok, idle := r.refs.Close()
	if !ok {
		return aio.File.ErrClosed()
	}
	if idle {
		r.release()
	}
	return nil
}

// release closes the fd once no operation uses it.
func (r *root) release() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fd >= 0 {
		r.l.Close(r.fd)
		r.fd = -1
	}
}

// errSymlink is returned by a step of a resolution that met a symlink it
// must follow; it holds the link's target. It never reaches a caller.
type errSymlink string

func (e errSymlink) Error() string { return "symlink to " + string(e) }

// splitPath splits name into its components, with prefix before and
// suffix after them, dropping "." and empty components; ".." is kept for
// resolve. An absolute name escapes the root. It reports whether name
// ended in a slash.
func splitPath(name string, prefix, suffix []string) (parts []string, endsInSlash bool, err error) {
	if name == "" {
		return nil, false, syscall.ENOENT
	}
	if name[0] == '/' {
		return nil, false, errEscapes
	}
	parts = slices.Clone(prefix)
	for part := range splitSlash(name) {
		if part != "" && part != "." {
			parts = append(parts, part)
		}
	}
	parts = append(parts, suffix...)
	if len(parts) == 0 {
		parts = []string{"."}
	}
	return parts, name[len(name)-1] == '/', nil
}

// splitSlash yields the slash-separated pieces of s.
func splitSlash(s string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for {
			i := 0
			for i < len(s) && s[i] != '/' {
				i++
			}
			if !yield(s[:i]) || i == len(s) {
				return
			}
			s = s[i+1:]
		}
	}
}

// resolve runs last on the directory holding the final component of name
// and that component's name, after resolving every directory before it
// inside the root. name is relative to the root; ".." is taken lexically
// (the path is rewritten and the walk restarts from the root) and may not
// climb above the root. A symlink met on the way is read and spliced into
// the path; so is one last reports by returning errSymlink.
//
// openDir opens a directory component (nil: openDir with O_NOFOLLOW).
// The errors are bare errnos, or fs.ErrClosed when the FS is closed.
func resolve[T any](fsys *FS, name string, openDir func(parent int, name string) (int, error), last func(parent int, name string) (T, error)) (ret T, err error) {
	l := fsys.l
	rootfd, err := fsys.r.incref()
	if err != nil {
		return ret, err
	}
	defer fsys.r.decref()
	parts, _, err := splitPath(name, nil, nil)
	if err != nil {
		return ret, err
	}
	if openDir == nil {
		openDir = func(parent int, name string) (int, error) { return openDirNoFollow(l, parent, name) }
	}
	dirfd := rootfd
	defer func() {
		if dirfd != rootfd {
			l.Close(dirfd)
		}
	}()
	toRoot := func() {
		if dirfd != rootfd {
			l.Close(dirfd)
		}
		dirfd = rootfd
	}
	i, steps, restarts, symlinks := 0, 0, 0, 0
	for {
		steps++
		if steps > maxSteps && restarts > maxRestarts {
			return ret, syscall.ENAMETOOLONG
		}
		if parts[i] == ".." {
			// Drop the ".."s and as many components before them, then
			// start again from the root.
			restarts++
			end := i + 1
			for end < len(parts) && parts[end] == ".." {
				end++
			}
			count := end - i
			if count > i {
				return ret, errEscapes
			}
			parts = slices.Delete(parts, i-count, end)
			if len(parts) == 0 {
				parts = []string{"."}
			}
			i = 0
			toRoot()
			continue
		}
		if i == len(parts)-1 {
			ret, err = last(dirfd, parts[i])
		} else {
			var fd int
			fd, err = openDir(dirfd, parts[i])
			if err == nil {
				if dirfd != rootfd {
					l.Close(dirfd)
				}
				dirfd = fd
			}
		}
		target, ok := err.(errSymlink)
		if !ok {
			if err != nil || i == len(parts)-1 {
				return ret, err
			}
			i++
			continue
		}
		symlinks++
		if symlinks > maxSymlinks {
			return ret, syscall.ELOOP
		}
		newparts, _, err := splitPath(string(target), parts[:i], parts[i+1:])
		if err != nil {
			return ret, err
		}
		if len(newparts) < i || !slices.Equal(parts[:i], newparts[:i]) {
			i = 0
			toRoot()
		}
		parts = newparts
	}
}

// openDirNoFollow opens the directory name in parent without following a
// symlink; a symlink there is reported as errSymlink.
func openDirNoFollow(l *libgo.Libc, parent int, name string) (int, error) {
	fd, err := l.Openat(parent, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
	if err == syscall.ELOOP || err == syscall.ENOTDIR {
		return -1, symlinkOr(l, parent, name, err)
	}
	return fd, err
}

// symlinkOr returns errSymlink with the target of name in parent if it is
// a symlink, and orig otherwise.
func symlinkOr(l *libgo.Libc, parent int, name string, orig error) error {
	target, err := readlinkat(l, parent, name)
	if err != nil {
		return orig
	}
	return errSymlink(target)
}

// readlinkat returns the target of the symlink name in dirfd.
func readlinkat(l *libgo.Libc, dirfd int, name string) (string, error) {
	for size := 128; ; size *= 2 {
		b := make([]byte, size)
		n, err := l.Readlinkat(dirfd, name, b)
		if err != nil {
			return "", err
		}
		if n < size {
			return string(b[:n]), nil
		}
	}
}

// followLast makes a step that acts on the final component only once it
// is not a symlink: a symlink there is followed (f is then called on its
// target), as chmod(2) and stat(2) follow one.
func followLast[T any](l *libgo.Libc, f func(parent int, name string) (T, error)) func(int, string) (T, error) {
	return func(parent int, name string) (ret T, err error) {
		var st unix.Stat_t
		if err := l.Fstatat(parent, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return ret, err
		}
		if st.Mode&unix.S_IFMT == unix.S_IFLNK {
			return ret, symlinkOr(l, parent, name, syscall.ELOOP)
		}
		return f(parent, name)
	}
}
