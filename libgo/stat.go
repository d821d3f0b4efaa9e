package libgo

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// File metadata: stat, statfs, permissions, owners, times and access
// checks.

// Stat fills st with the metadata of the file at path, following a final
// symlink; it is newfstatat(2) with AT_FDCWD.
func (l *Libc) Stat(path string, st *unix.Stat_t) error {
	return l.Fstatat(unix.AT_FDCWD, path, st, 0)
}

// Lstat is Stat for the link itself when path names a symlink; it is
// newfstatat(2) with AT_FDCWD and AT_SYMLINK_NOFOLLOW.
func (l *Libc) Lstat(path string, st *unix.Stat_t) error {
	return l.Fstatat(unix.AT_FDCWD, path, st, unix.AT_SYMLINK_NOFOLLOW)
}

// Fstat fills st with the metadata of the file open as fd, with fstat(2).
// A nil st is EFAULT (see efaultNil), as for every struct pointer here.
func (l *Libc) Fstat(fd int, st *unix.Stat_t) error {
	if st == nil {
		return efaultNil
	}
	_, err := l.call(unix.SYS_FSTAT, uintptr(fd), uintptr(unsafe.Pointer(st)), 0, 0, 0, 0)
	return err
}

// Fstatat fills st with the metadata of path relative to the directory
// dirfd, with newfstatat(2); flags may hold AT_SYMLINK_NOFOLLOW and
// AT_EMPTY_PATH.
func (l *Libc) Fstatat(dirfd int, path string, st *unix.Stat_t, flags int) error {
	if st == nil {
		return efaultNil
	}
	p, err := cstring(path)
	if err != nil {
		return err
	}
	_, err = l.call(unix.SYS_NEWFSTATAT, uintptr(dirfd), uintptr(unsafe.Pointer(p)), uintptr(unsafe.Pointer(st)), uintptr(flags), 0, 0)
	return err
}

// Statfs fills st with the statistics of the file system holding path,
// with statfs(2).
func (l *Libc) Statfs(path string, st *unix.Statfs_t) error {
	if st == nil {
		return efaultNil
	}
	p, err := cstring(path)
	if err != nil {
		return err
	}
	_, err = l.call(unix.SYS_STATFS, uintptr(unsafe.Pointer(p)), uintptr(unsafe.Pointer(st)), 0, 0, 0, 0)
	return err
}

// Fstatfs fills st with the statistics of the file system holding the file
// open as fd, with fstatfs(2).
func (l *Libc) Fstatfs(fd int, st *unix.Statfs_t) error {
	if st == nil {
		return efaultNil
	}
	_, err := l.call(unix.SYS_FSTATFS, uintptr(fd), uintptr(unsafe.Pointer(st)), 0, 0, 0, 0)
	return err
}

// Chmod sets the permission bits of the file at path, following a final
// symlink; it is fchmodat(2) with AT_FDCWD.
func (l *Libc) Chmod(path string, mode uint32) error {
	return l.Fchmodat(unix.AT_FDCWD, path, mode, 0)
}

// Fchmod sets the permission bits of the file open as fd, with fchmod(2).
func (l *Libc) Fchmod(fd int, mode uint32) error {
	_, err := l.call(unix.SYS_FCHMOD, uintptr(fd), uintptr(mode), 0, 0, 0, 0)
	return err
}

// Fchmodat sets the permission bits of path relative to the directory
// dirfd. With flags 0 it is fchmodat(2), which takes no flags on Linux;
// other flags (AT_SYMLINK_NOFOLLOW) need fchmodat2(2), Linux 6.6 and later,
// and its errno is returned as it is: ENOSYS on older kernels, LKL's 4.9
// among them.
func (l *Libc) Fchmodat(dirfd int, path string, mode uint32, flags int) error {
	p, err := cstring(path)
	if err != nil {
		return err
	}
	if flags != 0 {
		_, err = l.call(unix.SYS_FCHMODAT2, uintptr(dirfd), uintptr(unsafe.Pointer(p)), uintptr(mode), uintptr(flags), 0, 0)
		return err
	}
	_, err = l.call(unix.SYS_FCHMODAT, uintptr(dirfd), uintptr(unsafe.Pointer(p)), uintptr(mode), 0, 0, 0)
	return err
}

// Chown sets the owner and group of the file at path, following a final
// symlink; it is fchownat(2) with AT_FDCWD. An id of -1 leaves it as it is.
func (l *Libc) Chown(path string, uid, gid int) error {
	return l.Fchownat(unix.AT_FDCWD, path, uid, gid, 0)
}

// Fchown sets the owner and group of the file open as fd, with fchown(2).
// An id of -1 leaves it as it is.
func (l *Libc) Fchown(fd int, uid, gid int) error {
	_, err := l.call(unix.SYS_FCHOWN, uintptr(fd), uintptr(uid), uintptr(gid), 0, 0, 0)
	return err
}

// Lchown is Chown for the link itself when path names a symlink; it is
// fchownat(2) with AT_FDCWD and AT_SYMLINK_NOFOLLOW.
func (l *Libc) Lchown(path string, uid, gid int) error {
	return l.Fchownat(unix.AT_FDCWD, path, uid, gid, unix.AT_SYMLINK_NOFOLLOW)
}

// Fchownat sets the owner and group of path relative to the directory
// dirfd, with fchownat(2); flags may hold AT_SYMLINK_NOFOLLOW and
// AT_EMPTY_PATH. An id of -1 leaves it as it is.
func (l *Libc) Fchownat(dirfd int, path string, uid, gid int, flags int) error {
	p, err := cstring(path)
	if err != nil {
		return err
	}
	_, err = l.call(unix.SYS_FCHOWNAT, uintptr(dirfd), uintptr(unsafe.Pointer(p)), uintptr(uid), uintptr(gid), uintptr(flags), 0)
	return err
}

// UtimesNano sets the access and modification times of the file at path,
// following a final symlink, to ts[0] and ts[1]; it is utimensat(2) with
// AT_FDCWD. A Nsec of unix.UTIME_NOW or UTIME_OMIT sets that time to now or
// leaves it. len(ts) must be 2, else EINVAL.
func (l *Libc) UtimesNano(path string, ts []unix.Timespec) error {
	return l.UtimesNanoAt(unix.AT_FDCWD, path, ts, 0)
}

// UtimesNanoAt sets the access and modification times of path relative to
// the directory dirfd to ts[0] and ts[1], with utimensat(2); flags may hold
// AT_SYMLINK_NOFOLLOW. len(ts) must be 2, else EINVAL.
func (l *Libc) UtimesNanoAt(dirfd int, path string, ts []unix.Timespec, flags int) error {
	if len(ts) != 2 {
		return syscall.EINVAL
	}
	p, err := cstring(path)
	if err != nil {
		return err
	}
	_, err = l.call(unix.SYS_UTIMENSAT, uintptr(dirfd), uintptr(unsafe.Pointer(p)), uintptr(unsafe.Pointer(&ts[0])), uintptr(flags), 0, 0)
	return err
}

// Futimens sets the access and modification times of the file open as fd
// to ts[0] and ts[1]; it is utimensat(2) with fd and a NULL path, which is
// what futimens(3) does. len(ts) must be 2, else EINVAL.
func (l *Libc) Futimens(fd int, ts []unix.Timespec) error {
	if len(ts) != 2 {
		return syscall.EINVAL
	}
	_, err := l.call(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(&ts[0])), 0, 0, 0)
	return err
}

// Access checks whether the calling process may access the file at path
// with mode (unix.R_OK, W_OK, X_OK, or F_OK for existence), using its real
// ids; it is faccessat(2) with AT_FDCWD.
func (l *Libc) Access(path string, mode uint32) error {
	return l.Faccessat(unix.AT_FDCWD, path, mode, 0)
}

// Faccessat checks access to path relative to the directory dirfd. With
// flags 0 it is faccessat(2), which takes no flags on Linux; other flags
// (AT_EACCESS, AT_SYMLINK_NOFOLLOW, AT_EMPTY_PATH) need faccessat2(2),
// Linux 5.8 and later, and its errno is returned as it is: ENOSYS on older
// kernels, LKL's 4.9 among them. Unlike glibc, libgo does not emulate the
// flags with stat.
func (l *Libc) Faccessat(dirfd int, path string, mode uint32, flags int) error {
	p, err := cstring(path)
	if err != nil {
		return err
	}
	if flags != 0 {
		_, err = l.call(unix.SYS_FACCESSAT2, uintptr(dirfd), uintptr(unsafe.Pointer(p)), uintptr(mode), uintptr(flags), 0, 0)
		return err
	}
	_, err = l.call(unix.SYS_FACCESSAT, uintptr(dirfd), uintptr(unsafe.Pointer(p)), uintptr(mode), 0, 0, 0)
	return err
}

// Umask sets the file mode creation mask to mask&0777 with umask(2) and
// returns the previous mask. It never fails. On the host the mask belongs
// to the whole process; on LKL there is one mask for all of LKL's callers.
func (l *Libc) Umask(mask int) (oldmask int) {
	r, _, _ := l.syscall(unix.SYS_UMASK, uintptr(mask), 0, 0, 0, 0, 0)
	return int(r)
}
