package libgo

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Directories: making and removing them, the current directory, and raw
// directory entries (decoded in dirent.go).

// Mkdir makes the directory path with permission bits mode (less the
// umask); it is mkdirat(2) with AT_FDCWD.
func (l *Libc) Mkdir(path string, mode uint32) error {
	return l.Mkdirat(unix.AT_FDCWD, path, mode)
}

// Mkdirat makes the directory path relative to the directory dirfd, with
// mkdirat(2).
func (l *Libc) Mkdirat(dirfd int, path string, mode uint32) error {
	p, err := cstring(path)
	if err != nil {
		return err
	}
	_, err = l.call(unix.SYS_MKDIRAT, uintptr(dirfd), uintptr(unsafe.Pointer(p)), uintptr(mode), 0, 0, 0)
	return err
}

// Rmdir removes the empty directory path; it is unlinkat(2) with AT_FDCWD
// and AT_REMOVEDIR.
func (l *Libc) Rmdir(path string) error {
	return l.Unlinkat(unix.AT_FDCWD, path, unix.AT_REMOVEDIR)
}

// Getdents reads directory entries from the directory open as fd into buf,
// as linux_dirent64 records, with getdents64(2), and returns the number of
// bytes filled; 0 means the end of the directory. sys/dirent decodes
// them. A buf too small for the next entry is EINVAL. EINTR is retried.
func (l *Libc) Getdents(fd int, buf []byte) (n int, err error) {
	r, err := l.callEINTR(unix.SYS_GETDENTS64, uintptr(fd), uintptr(bufp(buf)), uintptr(len(buf)), 0, 0, 0)
	return countResult(r, err)
}

// Chdir makes path the current directory, with chdir(2). On the host that
// is the whole process's current directory, shared by all goroutines; on
// LKL it is LKL's one current directory, shared by all of LKL's callers.
func (l *Libc) Chdir(path string) error {
	p, err := cstring(path)
	if err != nil {
		return err
	}
	_, err = l.call(unix.SYS_CHDIR, uintptr(unsafe.Pointer(p)), 0, 0, 0, 0, 0)
	return err
}

// Fchdir makes the directory open as fd the current directory, with
// fchdir(2).
func (l *Libc) Fchdir(fd int) error {
	_, err := l.call(unix.SYS_FCHDIR, uintptr(fd), 0, 0, 0, 0, 0)
	return err
}

// Getcwd writes the absolute path of the current directory into buf,
// NUL-terminated, with getcwd(2), and returns the number of bytes written
// including the NUL, as the kernel does. A buf too small is ERANGE; a
// current directory that has been removed is ENOENT.
func (l *Libc) Getcwd(buf []byte) (n int, err error) {
	r, err := l.call(unix.SYS_GETCWD, uintptr(bufp(buf)), uintptr(len(buf)), 0, 0, 0, 0)
	return countResult(r, err)
}

// Getwd returns the absolute path of the current directory, with getcwd(2).
// A path that is not absolute, which Linux returns, prefixed with
// "(unreachable)", for a directory outside the caller's root, is ENOENT.
func (l *Libc) Getwd() (string, error) {
	buf := make([]byte, unix.PathMax)
	n, err := l.Getcwd(buf)
	if err != nil {
		return "", err
	}
	if n < 1 || n > len(buf) || buf[n-1] != 0 {
		return "", syscall.EINVAL
	}
	if buf[0] != '/' {
		return "", syscall.ENOENT
	}
	return string(buf[:n-1]), nil
}
