package libgo

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Names: hard links, symlinks, unlinking and renaming.

// Link makes newpath a hard link to oldpath; it is linkat(2) with AT_FDCWD
// for both and no flags, so a final symlink in oldpath is not followed.
func (l *Libc) Link(oldpath, newpath string) error {
	return l.Linkat(unix.AT_FDCWD, oldpath, unix.AT_FDCWD, newpath, 0)
}

// Linkat makes newpath (relative to newdirfd) a hard link to oldpath
// (relative to olddirfd), with linkat(2); flags may hold AT_SYMLINK_FOLLOW
// and AT_EMPTY_PATH.
func (l *Libc) Linkat(olddirfd int, oldpath string, newdirfd int, newpath string, flags int) error {
	op, np, err := cstring2(oldpath, newpath)
	if err != nil {
		return err
	}
	_, err = l.call(unix.SYS_LINKAT, uintptr(olddirfd), uintptr(unsafe.Pointer(op)), uintptr(newdirfd), uintptr(unsafe.Pointer(np)), uintptr(flags), 0)
	return err
}

// Symlink makes newpath a symlink whose target is oldpath; it is
// symlinkat(2) with AT_FDCWD. oldpath is stored as it is and need not
// exist.
func (l *Libc) Symlink(oldpath, newpath string) error {
	return l.Symlinkat(oldpath, unix.AT_FDCWD, newpath)
}

// Symlinkat makes newpath, relative to the directory newdirfd, a symlink
// whose target is oldpath, with symlinkat(2).
func (l *Libc) Symlinkat(oldpath string, newdirfd int, newpath string) error {
	op, np, err := cstring2(oldpath, newpath)
	if err != nil {
		return err
	}
	_, err = l.call(unix.SYS_SYMLINKAT, uintptr(unsafe.Pointer(op)), uintptr(newdirfd), uintptr(unsafe.Pointer(np)), 0, 0, 0)
	return err
}

// Readlink writes the target of the symlink path into buf, without a NUL,
// and returns its length; it is readlinkat(2) with AT_FDCWD. A target
// longer than buf is cut to len(buf) bytes, as the kernel does: n ==
// len(buf) may mean the buffer was too small.
func (l *Libc) Readlink(path string, buf []byte) (n int, err error) {
	return l.Readlinkat(unix.AT_FDCWD, path, buf)
}

// Readlinkat is Readlink for path relative to the directory dirfd, with
// readlinkat(2).
func (l *Libc) Readlinkat(dirfd int, path string, buf []byte) (n int, err error) {
	p, err := cstring(path)
	if err != nil {
		return 0, err
	}
	r, err := l.call(unix.SYS_READLINKAT, uintptr(dirfd), uintptr(unsafe.Pointer(p)), uintptr(bufp(buf)), uintptr(len(buf)), 0, 0)
	return countResult(r, err)
}

// Unlink removes the name path of a file that is not a directory; it is
// unlinkat(2) with AT_FDCWD and no flags.
func (l *Libc) Unlink(path string) error {
	return l.Unlinkat(unix.AT_FDCWD, path, 0)
}

// Unlinkat removes the name path relative to the directory dirfd, with
// unlinkat(2); with AT_REMOVEDIR in flags it removes an empty directory,
// as rmdir(2) does.
func (l *Libc) Unlinkat(dirfd int, path string, flags int) error {
	p, err := cstring(path)
	if err != nil {
		return err
	}
	_, err = l.call(unix.SYS_UNLINKAT, uintptr(dirfd), uintptr(unsafe.Pointer(p)), uintptr(flags), 0, 0, 0)
	return err
}

// Rename renames oldpath to newpath, replacing a newpath that exists; it
// is renameat(2) with AT_FDCWD for both.
func (l *Libc) Rename(oldpath, newpath string) error {
	return l.Renameat(unix.AT_FDCWD, oldpath, unix.AT_FDCWD, newpath)
}

// Renameat renames oldpath (relative to olddirfd) to newpath (relative to
// newdirfd), with renameat(2).
func (l *Libc) Renameat(olddirfd int, oldpath string, newdirfd int, newpath string) error {
	op, np, err := cstring2(oldpath, newpath)
	if err != nil {
		return err
	}
	_, err = l.call(unix.SYS_RENAMEAT, uintptr(olddirfd), uintptr(unsafe.Pointer(op)), uintptr(newdirfd), uintptr(unsafe.Pointer(np)), 0, 0)
	return err
}

// Renameat2 is Renameat with flags, with renameat2(2) (Linux 3.15, so LKL
// has it): unix.RENAME_NOREPLACE fails with EEXIST instead of replacing
// newpath, RENAME_EXCHANGE swaps the two names, RENAME_WHITEOUT is for
// overlay file systems. A file system that does not support a flag gives
// EINVAL.
func (l *Libc) Renameat2(olddirfd int, oldpath string, newdirfd int, newpath string, flags uint) error {
	op, np, err := cstring2(oldpath, newpath)
	if err != nil {
		return err
	}
	_, err = l.call(unix.SYS_RENAMEAT2, uintptr(olddirfd), uintptr(unsafe.Pointer(op)), uintptr(newdirfd), uintptr(unsafe.Pointer(np)), uintptr(flags), 0)
	return err
}

// cstring2 converts the two paths of a two-name call; a NUL in either is
// EINVAL.
func cstring2(a, b string) (*byte, *byte, error) {
	ap, err := cstring(a)
	if err != nil {
		return nil, nil, err
	}
	bp, err := cstring(b)
	if err != nil {
		return nil, nil, err
	}
	return ap, bp, nil
}
