//go:build amd64

package supervise

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/sys"
)

// A working directory in the other kernel. The host keeps the process's
// own working directory where it was; the supervisor remembers a
// directory fd of the other kernel (and its path, when chdir gave it),
// answers the relative paths from the working directory there, and
// getcwd with the path. A chdir to a host directory, or an fchdir to a
// host fd, makes the working directory the host's again.

// chdir answers chdir(path): ours says whose the path is, p is the path
// and cwd, cwdPath the working directory of ours, if any.
func (c *call) chdir(ours bool, p string, cwd *lfd, cwdPath string) result {
	if !ours {
		if cwd == nil {
			return cont
		}
		// An absolute host path (a relative one would be ours): check
		// it as the host's chdir will, so that a failure keeps ours.
		if err := c.s.host.Access(p, unix.X_OK); err != nil {
			return result{err: errnoOf(err)}
		}
		c.p.setCwd(c.s, nil, "")
		return cont
	}
	var newPath string
	switch {
	case len(p) > 0 && p[0] == '/':
		newPath = cleanPath(p)
	case cwdPath != "":
		newPath = cleanPath(cwdPath + "/" + p)
		if !c.s.under(newPath) {
			return c.s.refuse(c, syscall.EOPNOTSUPP, "chdir out of the other kernel's directories by a relative path")
		}
	}
	k := c.p.k
	if k == nil {
		return c.s.refuse(c, syscall.EOPNOTSUPP, "no access to the process's memory (Options.ForProcess)")
	}
	dir := uintptr(atFDCWD)
	if cwd != nil && (len(p) == 0 || p[0] != '/') {
		dir = uintptr(cwd.fd)
	}
	fd, _, e := sys.SyscallOn(k, unix.SYS_OPENAT, dir, c.args[0], unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0, 0, 0)
	if e != 0 {
		return result{err: e}
	}
	c.p.setCwd(c.s, &lfd{fd: int(fd), file: true, refs: 1}, newPath)
	return result{}
}

// atFDCWD is AT_FDCWD as a variable, so that uintptr(atFDCWD) converts at
// run time.
var atFDCWD = unix.AT_FDCWD

// fchdir answers fchdir(fd): a directory fd of ours becomes the working
// directory (its path unknown); a host fd makes it the host's again.
func (c *call) fchdir() result {
	if !isOurs(c.args[0]) {
		c.p.setCwd(c.s, nil, "")
		return cont
	}
	l := c.p.get(int(int32(c.args[0])))
	if l == nil {
		return result{err: errBadFD}
	}
	defer c.p.put(c.s, l)
	var st unix.Stat_t
	if _, _, e := sys.SyscallOn(c.s.k, unix.SYS_FSTAT, uintptr(l.fd), uintptr(unsafe.Pointer(&st)), 0, 0, 0, 0); e != 0 {
		return result{err: e}
	} else if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return result{err: syscall.ENOTDIR}
	}
	fd, _, e := sys.SyscallOn(c.s.k, unix.SYS_FCNTL, uintptr(l.fd), unix.F_DUPFD_CLOEXEC, 0, 0, 0, 0)
	if e != 0 {
		return result{err: e}
	}
	c.p.setCwd(c.s, &lfd{fd: int(fd), file: true, refs: 1}, "")
	return result{}
}

// getcwd answers getcwd(buf, size) when the working directory is ours.
func (c *call) getcwd() result {
	cwd, path := c.p.getCwd()
	if cwd == nil {
		return cont
	}
	defer c.p.put(c.s, cwd)
	if path == "" {
		return c.s.refuse(c, syscall.EOPNOTSUPP, "getcwd after fchdir into the other kernel (its path is not known)")
	}
	b := append([]byte(path), 0)
	if uintptr(len(b)) > c.args[1] {
		return result{err: syscall.ERANGE}
	}
	if e := writeMem(c.tid, c.args[0], b); e != 0 {
		return result{err: e}
	}
	return result{val: uintptr(len(b))}
}

// atForm rewrites a path call that has no directory fd argument into its
// *at form, relative to dir: open → openat(dir, …) and so on. ok is false
// for calls that have none (truncate, utimes, the xattr calls, statfs).
func atForm(nr uintptr, a [6]uintptr, dir uintptr) (uintptr, [6]uintptr, bool) {
	switch nr {
	case unix.SYS_OPEN:
		return unix.SYS_OPENAT, [6]uintptr{dir, a[0], a[1], a[2]}, true
	case unix.SYS_CREAT:
		return unix.SYS_OPENAT, [6]uintptr{dir, a[0], unix.O_CREAT | unix.O_WRONLY | unix.O_TRUNC, a[1]}, true
	case unix.SYS_STAT:
		return unix.SYS_NEWFSTATAT, [6]uintptr{dir, a[0], a[1], 0}, true
	case unix.SYS_LSTAT:
		return unix.SYS_NEWFSTATAT, [6]uintptr{dir, a[0], a[1], unix.AT_SYMLINK_NOFOLLOW}, true
	case unix.SYS_ACCESS:
		return unix.SYS_FACCESSAT, [6]uintptr{dir, a[0], a[1]}, true
	case unix.SYS_READLINK:
		return unix.SYS_READLINKAT, [6]uintptr{dir, a[0], a[1], a[2]}, true
	case unix.SYS_MKDIR:
		return unix.SYS_MKDIRAT, [6]uintptr{dir, a[0], a[1]}, true
	case unix.SYS_MKNOD:
		return unix.SYS_MKNODAT, [6]uintptr{dir, a[0], a[1], a[2]}, true
	case unix.SYS_UNLINK:
		return unix.SYS_UNLINKAT, [6]uintptr{dir, a[0], 0}, true
	case unix.SYS_RMDIR:
		return unix.SYS_UNLINKAT, [6]uintptr{dir, a[0], unix.AT_REMOVEDIR}, true
	case unix.SYS_RENAME:
		return unix.SYS_RENAMEAT, [6]uintptr{dir, a[0], dir, a[1]}, true
	case unix.SYS_LINK:
		return unix.SYS_LINKAT, [6]uintptr{dir, a[0], dir, a[1], 0}, true
	case unix.SYS_SYMLINK:
		return unix.SYS_SYMLINKAT, [6]uintptr{a[0], dir, a[1]}, true
	case unix.SYS_CHMOD:
		return unix.SYS_FCHMODAT, [6]uintptr{dir, a[0], a[1]}, true
	case unix.SYS_CHOWN:
		return unix.SYS_FCHOWNAT, [6]uintptr{dir, a[0], a[1], a[2], 0}, true
	case unix.SYS_LCHOWN:
		return unix.SYS_FCHOWNAT, [6]uintptr{dir, a[0], a[1], a[2], unix.AT_SYMLINK_NOFOLLOW}, true
	}
	return nr, a, false
}
