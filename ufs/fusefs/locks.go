package fusefs

import (
	"context"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/ufs"
)

// Locks. flock(2) locks are forwarded on a read-write mount whose FS's
// kernel has them (canFlock): the host
// kernel sends them (FUSE_FLOCK_LOCKS) for one open file description, which
// is one handle here and so one open file in the FS's kernel, where
// flock(2) on the handle's fd takes the same lock with the same meaning;
// closing the handle (RELEASE) drops it there as close(2) does.
//
// POSIX (fcntl) record locks are not forwarded: the host kernel keeps
// them itself (no FUSE_POSIX_LOCKS), which is right for a mount that is
// its file system's only user. Forwarded, they would be wrong: the kernel
// serving the FS sees one process, this one, so locks taken for two host
// processes would never conflict there; open-file-description locks on a
// file per lock owner would conflict within one host process; and
// go-fuse's Flush does not pass the lock owner, which a server needs to
// drop a process's locks when it closes any fd of the file.
//
// A read-only mount keeps flock locks in the host kernel too: it has no
// handles (see node.Open) to take them on. So does a mount on a kernel
// without file locking: LKL as gokernel builds it (Linux 4.9's LKL
// defconfig, CONFIG_FILE_LOCKING not set) answers flock(2) with ENOSYS.

// lockPoll is how often a blocking flock asks again: the wait polls a
// non-blocking flock(2), so that a caller interrupted while waiting
// (FUSE_INTERRUPT cancels the request's context) leaves no call in the
// FS's kernel blocked for good.
const lockPoll = 10 * time.Millisecond

// Setlk implements fs.FileSetlker for flock(2) with LOCK_NB.
func (h *handle) Setlk(ctx context.Context, owner uint64, lk *fuse.FileLock, flags uint32) syscall.Errno {
	op, err := flockOp(lk, flags)
	if err != 0 {
		return err
	}
	return h.flock(op | unix.LOCK_NB)
}

// Setlkw implements fs.FileSetlkwer for flock(2) that waits: until the
// lock is free, or the caller gives up (EINTR).
func (h *handle) Setlkw(ctx context.Context, owner uint64, lk *fuse.FileLock, flags uint32) syscall.Errno {
	op, err := flockOp(lk, flags)
	if err != 0 {
		return err
	}
	if op == unix.LOCK_UN {
		return h.flock(op)
	}
	t := time.NewTicker(lockPoll)
	defer t.Stop()
	for {
		if err := h.flock(op | unix.LOCK_NB); err != syscall.EWOULDBLOCK {
			return err
		}
		select {
		case <-ctx.Done():
			return syscall.EINTR
		case <-t.C:
		}
	}
}

// flockOp is the flock(2) operation for a FUSE lock request; a POSIX lock
// (which the host kernel keeps itself, and so never sends) is ENOSYS.
func flockOp(lk *fuse.FileLock, flags uint32) (int, syscall.Errno) {
	if flags&fuse.FUSE_LK_FLOCK == 0 {
		return 0, syscall.ENOSYS
	}
	switch lk.Typ {
	case unix.F_RDLCK:
		return unix.LOCK_SH, 0
	case unix.F_WRLCK:
		return unix.LOCK_EX, 0
	case unix.F_UNLCK:
		return unix.LOCK_UN, 0
	}
	return 0, syscall.EINVAL
}

// flock calls flock(2) on the handle's fd in the FS's kernel.
func (h *handle) flock(op int) syscall.Errno { return flock(h.s.l.Kernel(), h.f.Fd(), op) }

func flock(k sys.Kernel, fd, op int) syscall.Errno {
	_, _, e := sys.SyscallOn(k, unix.SYS_FLOCK, uintptr(fd), uintptr(op), 0, 0, 0, 0)
	return e
}

// canFlock reports whether fsys's kernel has flock(2): it takes and drops
// a shared lock on fsys's root directory.
func canFlock(fsys *ufs.FS) bool {
	f, err := fsys.OpenFile(".", unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	if flock(fsys.Kernel(), f.Fd(), unix.LOCK_SH|unix.LOCK_NB) != 0 {
		return false
	}
	flock(fsys.Kernel(), f.Fd(), unix.LOCK_UN)
	return true
}

var (
	_ fs.FileSetlker  = (*handle)(nil)
	_ fs.FileSetlkwer = (*handle)(nil)
)
