package supervise

import "golang.org/x/sys/unix"

// auditArch is the audit architecture of the table's ABI.
const auditArch = unix.AUDIT_ARCH_X86_64

// fd0 and friends are fdArgs masks: which arguments are fds.
const (
	fd0 = 1 << iota
	fd1
	fd2
	_
	fd4
)

// rules are the calls the filter may send to the supervisor (filter.go)
// and how it answers each (calls.go). A call not listed runs on the host.
var rules = []rule{
	// Calls on an fd of the other kernel.
	{nr: unix.SYS_READ, class: fdArgs, fds: fd0},
	{nr: unix.SYS_WRITE, class: fdArgs, fds: fd0},
	{nr: unix.SYS_PREAD64, class: fdArgs, fds: fd0},
	{nr: unix.SYS_PWRITE64, class: fdArgs, fds: fd0},
	{nr: unix.SYS_READV, class: fdArgs, fds: fd0},
	{nr: unix.SYS_WRITEV, class: fdArgs, fds: fd0},
	{nr: unix.SYS_PREADV, class: fdArgs, fds: fd0},
	{nr: unix.SYS_PWRITEV, class: fdArgs, fds: fd0},
	{nr: unix.SYS_PREADV2, class: fdArgs, fds: fd0},
	{nr: unix.SYS_PWRITEV2, class: fdArgs, fds: fd0},
	{nr: unix.SYS_CLOSE, class: fdArgs, fds: fd0},
	{nr: unix.SYS_FSTAT, class: fdArgs, fds: fd0},
	{nr: unix.SYS_LSEEK, class: fdArgs, fds: fd0},
	{nr: unix.SYS_IOCTL, class: sockIoctl, bridge: true}, // before the fdArgs rule, which it includes
	{nr: unix.SYS_IOCTL, class: fdArgs, fds: fd0},
	{nr: unix.SYS_FCNTL, class: fdArgs, fds: fd0},
	{nr: unix.SYS_FSYNC, class: fdArgs, fds: fd0},
	{nr: unix.SYS_FDATASYNC, class: fdArgs, fds: fd0},
	{nr: unix.SYS_FTRUNCATE, class: fdArgs, fds: fd0},
	{nr: unix.SYS_GETDENTS, class: fdArgs, fds: fd0},
	{nr: unix.SYS_GETDENTS64, class: fdArgs, fds: fd0},
	// fchdir: of any fd when directories are the other kernel's (it
	// leaves a working directory there), else of ours (refused).
	{nr: unix.SYS_FCHDIR, class: always, cwd: true},
	{nr: unix.SYS_FCHDIR, class: fdArgs, fds: fd0},
	{nr: unix.SYS_GETCWD, class: always, cwd: true},
	{nr: unix.SYS_FCHMOD, class: fdArgs, fds: fd0},
	{nr: unix.SYS_FCHOWN, class: fdArgs, fds: fd0},
	{nr: unix.SYS_FLOCK, class: fdArgs, fds: fd0},
	{nr: unix.SYS_FSTATFS, class: fdArgs, fds: fd0},
	{nr: unix.SYS_FGETXATTR, class: fdArgs, fds: fd0},
	{nr: unix.SYS_FSETXATTR, class: fdArgs, fds: fd0},
	{nr: unix.SYS_FLISTXATTR, class: fdArgs, fds: fd0},
	{nr: unix.SYS_FREMOVEXATTR, class: fdArgs, fds: fd0},
	{nr: unix.SYS_FALLOCATE, class: fdArgs, fds: fd0},
	{nr: unix.SYS_FADVISE64, class: fdArgs, fds: fd0},
	{nr: unix.SYS_READAHEAD, class: fdArgs, fds: fd0},
	{nr: unix.SYS_SYNCFS, class: fdArgs, fds: fd0},
	{nr: unix.SYS_SYNC_FILE_RANGE, class: fdArgs, fds: fd0},
	// With bridges: the socket calls on any fd (bridge.go).
	{nr: unix.SYS_BIND, class: always, bridge: true},
	{nr: unix.SYS_LISTEN, class: always, bridge: true},
	{nr: unix.SYS_ACCEPT, class: always, bridge: true},
	{nr: unix.SYS_ACCEPT4, class: always, bridge: true},
	{nr: unix.SYS_CONNECT, class: always, bridge: true},
	{nr: unix.SYS_GETSOCKNAME, class: always, bridge: true},
	{nr: unix.SYS_GETPEERNAME, class: always, bridge: true},
	{nr: unix.SYS_SETSOCKOPT, class: always, bridge: true},
	{nr: unix.SYS_GETSOCKOPT, class: always, bridge: true},
	{nr: unix.SYS_BIND, class: fdArgs, fds: fd0},
	{nr: unix.SYS_LISTEN, class: fdArgs, fds: fd0},
	{nr: unix.SYS_ACCEPT, class: fdArgs, fds: fd0},
	{nr: unix.SYS_ACCEPT4, class: fdArgs, fds: fd0},
	{nr: unix.SYS_CONNECT, class: fdArgs, fds: fd0},
	// With bridges, also the sends with an address and the out-of-band
	// data and fast opens a host pair has no TCP meaning for (bridge.go).
	{nr: unix.SYS_SENDTO, class: msgArgs, msgFlags: unix.MSG_OOB | unix.MSG_FASTOPEN, msgAddr: 4, bridge: true},
	{nr: unix.SYS_RECVFROM, class: msgArgs, msgFlags: unix.MSG_OOB, bridge: true},
	{nr: unix.SYS_SENDTO, class: fdArgs, fds: fd0},
	{nr: unix.SYS_RECVFROM, class: fdArgs, fds: fd0},
	// sendmsg: on any socket, since one of the host's may carry fds of
	// ours in SCM_RIGHTS (refused: scm.go).
	{nr: unix.SYS_SENDMSG, class: always},
	{nr: unix.SYS_RECVMSG, class: fdArgs, fds: fd0},
	{nr: unix.SYS_SENDMMSG, class: fdArgs, fds: fd0},
	{nr: unix.SYS_RECVMMSG, class: fdArgs, fds: fd0},
	{nr: unix.SYS_SHUTDOWN, class: fdArgs, fds: fd0},
	{nr: unix.SYS_GETSOCKNAME, class: fdArgs, fds: fd0},
	{nr: unix.SYS_GETPEERNAME, class: fdArgs, fds: fd0},
	{nr: unix.SYS_SETSOCKOPT, class: fdArgs, fds: fd0},
	{nr: unix.SYS_GETSOCKOPT, class: fdArgs, fds: fd0},
	{nr: unix.SYS_DUP, class: fdArgs, fds: fd0},
	{nr: unix.SYS_DUP2, class: fdArgs, fds: fd0 | fd1},
	{nr: unix.SYS_DUP3, class: fdArgs, fds: fd0 | fd1},
	{nr: unix.SYS_SENDFILE, class: fdArgs, fds: fd0 | fd1},
	{nr: unix.SYS_TEE, class: fdArgs, fds: fd0 | fd1},
	{nr: unix.SYS_COPY_FILE_RANGE, class: fdArgs, fds: fd0 | fd2},
	{nr: unix.SYS_SPLICE, class: fdArgs, fds: fd0 | fd2},
	{nr: unix.SYS_EPOLL_CTL, class: fdArgs, fds: fd0 | fd2},
	{nr: unix.SYS_MMAP, class: fdArgs, fds: fd4},

	// Sockets: those of other families than AF_UNIX.
	{nr: unix.SYS_SOCKET, class: notUnix},
	{nr: unix.SYS_SOCKETPAIR, class: notUnix},

	// Readiness and fd sets, whose fds are in memory; close_range, whose
	// usual last fd (~0U) is not an fd; execve, which closes the
	// close-on-exec fds.
	{nr: unix.SYS_POLL, class: always},
	{nr: unix.SYS_PPOLL, class: always},
	{nr: unix.SYS_SELECT, class: always},
	{nr: unix.SYS_PSELECT6, class: always},
	{nr: unix.SYS_EPOLL_WAIT, class: always},
	{nr: unix.SYS_EPOLL_PWAIT, class: always},
	{nr: unix.SYS_EPOLL_PWAIT2, class: always},
	{nr: unix.SYS_CLOSE_RANGE, class: always},
	{nr: unix.SYS_EXECVE, class: always},
	{nr: unix.SYS_EXECVEAT, class: always},

	// Paths.
	{nr: unix.SYS_OPEN, class: always, paths: true},
	{nr: unix.SYS_CREAT, class: always, paths: true},
	{nr: unix.SYS_OPENAT, class: always, paths: true},
	{nr: unix.SYS_OPENAT2, class: always, paths: true},
	{nr: unix.SYS_STAT, class: always, paths: true},
	{nr: unix.SYS_LSTAT, class: always, paths: true},
	{nr: unix.SYS_NEWFSTATAT, class: always, paths: true},
	{nr: unix.SYS_STATX, class: always, paths: true},
	{nr: unix.SYS_ACCESS, class: always, paths: true},
	{nr: unix.SYS_FACCESSAT, class: always, paths: true},
	{nr: unix.SYS_FACCESSAT2, class: always, paths: true},
	{nr: unix.SYS_READLINK, class: always, paths: true},
	{nr: unix.SYS_READLINKAT, class: always, paths: true},
	{nr: unix.SYS_MKDIR, class: always, paths: true},
	{nr: unix.SYS_MKDIRAT, class: always, paths: true},
	{nr: unix.SYS_MKNOD, class: always, paths: true},
	{nr: unix.SYS_MKNODAT, class: always, paths: true},
	{nr: unix.SYS_UNLINK, class: always, paths: true},
	{nr: unix.SYS_UNLINKAT, class: always, paths: true},
	{nr: unix.SYS_RMDIR, class: always, paths: true},
	{nr: unix.SYS_RENAME, class: always, paths: true},
	{nr: unix.SYS_RENAMEAT, class: always, paths: true},
	{nr: unix.SYS_RENAMEAT2, class: always, paths: true},
	{nr: unix.SYS_LINK, class: always, paths: true},
	{nr: unix.SYS_LINKAT, class: always, paths: true},
	{nr: unix.SYS_SYMLINK, class: always, paths: true},
	{nr: unix.SYS_SYMLINKAT, class: always, paths: true},
	{nr: unix.SYS_CHMOD, class: always, paths: true},
	{nr: unix.SYS_FCHMODAT, class: always, paths: true},
	{nr: unix.SYS_CHOWN, class: always, paths: true},
	{nr: unix.SYS_LCHOWN, class: always, paths: true},
	{nr: unix.SYS_FCHOWNAT, class: always, paths: true},
	{nr: unix.SYS_TRUNCATE, class: always, paths: true},
	{nr: unix.SYS_UTIME, class: always, paths: true},
	{nr: unix.SYS_UTIMES, class: always, paths: true},
	{nr: unix.SYS_UTIMENSAT, class: always, paths: true},
	{nr: unix.SYS_FUTIMESAT, class: always, paths: true},
	{nr: unix.SYS_GETXATTR, class: always, paths: true},
	{nr: unix.SYS_LGETXATTR, class: always, paths: true},
	{nr: unix.SYS_SETXATTR, class: always, paths: true},
	{nr: unix.SYS_LSETXATTR, class: always, paths: true},
	{nr: unix.SYS_LISTXATTR, class: always, paths: true},
	{nr: unix.SYS_LLISTXATTR, class: always, paths: true},
	{nr: unix.SYS_REMOVEXATTR, class: always, paths: true},
	{nr: unix.SYS_LREMOVEXATTR, class: always, paths: true},
	{nr: unix.SYS_STATFS, class: always, paths: true},
	{nr: unix.SYS_CHDIR, class: always, paths: true},
}

// pathArgs says where the path arguments of the path calls are: dirfd is
// the index of the directory fd a relative path starts from (-1: the
// working directory), path the index of the path; path2 and dirfd2 the
// second path of rename and link (path2 -1: none). symlink's target is
// not a path the call resolves, so only its link path counts.
var pathArgs = map[uintptr]struct{ dirfd, path, dirfd2, path2 int8 }{
	unix.SYS_OPEN:         {-1, 0, -1, -1},
	unix.SYS_CREAT:        {-1, 0, -1, -1},
	unix.SYS_OPENAT:       {0, 1, -1, -1},
	unix.SYS_OPENAT2:      {0, 1, -1, -1},
	unix.SYS_STAT:         {-1, 0, -1, -1},
	unix.SYS_LSTAT:        {-1, 0, -1, -1},
	unix.SYS_NEWFSTATAT:   {0, 1, -1, -1},
	unix.SYS_STATX:        {0, 1, -1, -1},
	unix.SYS_ACCESS:       {-1, 0, -1, -1},
	unix.SYS_FACCESSAT:    {0, 1, -1, -1},
	unix.SYS_FACCESSAT2:   {0, 1, -1, -1},
	unix.SYS_READLINK:     {-1, 0, -1, -1},
	unix.SYS_READLINKAT:   {0, 1, -1, -1},
	unix.SYS_MKDIR:        {-1, 0, -1, -1},
	unix.SYS_MKDIRAT:      {0, 1, -1, -1},
	unix.SYS_MKNOD:        {-1, 0, -1, -1},
	unix.SYS_MKNODAT:      {0, 1, -1, -1},
	unix.SYS_UNLINK:       {-1, 0, -1, -1},
	unix.SYS_UNLINKAT:     {0, 1, -1, -1},
	unix.SYS_RMDIR:        {-1, 0, -1, -1},
	unix.SYS_RENAME:       {-1, 0, -1, 1},
	unix.SYS_RENAMEAT:     {0, 1, 2, 3},
	unix.SYS_RENAMEAT2:    {0, 1, 2, 3},
	unix.SYS_LINK:         {-1, 0, -1, 1},
	unix.SYS_LINKAT:       {0, 1, 2, 3},
	unix.SYS_SYMLINK:      {-1, 1, -1, -1},
	unix.SYS_SYMLINKAT:    {1, 2, -1, -1},
	unix.SYS_CHMOD:        {-1, 0, -1, -1},
	unix.SYS_FCHMODAT:     {0, 1, -1, -1},
	unix.SYS_CHOWN:        {-1, 0, -1, -1},
	unix.SYS_LCHOWN:       {-1, 0, -1, -1},
	unix.SYS_FCHOWNAT:     {0, 1, -1, -1},
	unix.SYS_TRUNCATE:     {-1, 0, -1, -1},
	unix.SYS_UTIME:        {-1, 0, -1, -1},
	unix.SYS_UTIMES:       {-1, 0, -1, -1},
	unix.SYS_UTIMENSAT:    {0, 1, -1, -1},
	unix.SYS_FUTIMESAT:    {0, 1, -1, -1},
	unix.SYS_GETXATTR:     {-1, 0, -1, -1},
	unix.SYS_LGETXATTR:    {-1, 0, -1, -1},
	unix.SYS_SETXATTR:     {-1, 0, -1, -1},
	unix.SYS_LSETXATTR:    {-1, 0, -1, -1},
	unix.SYS_LISTXATTR:    {-1, 0, -1, -1},
	unix.SYS_LLISTXATTR:   {-1, 0, -1, -1},
	unix.SYS_REMOVEXATTR:  {-1, 0, -1, -1},
	unix.SYS_LREMOVEXATTR: {-1, 0, -1, -1},
	unix.SYS_STATFS:       {-1, 0, -1, -1},
	unix.SYS_CHDIR:        {-1, 0, -1, -1},
}
