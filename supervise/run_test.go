//go:build amd64

package supervise_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	osexec "os/exec"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/supervise"
	"github.com/gokernel/gokernel/sys"
)

const fdBase = 1 << 20

func init() {
	programs["fds"] = progFDs
	programs["exit3"] = func() error { os.Exit(3); return nil }
	programs["scm"] = progSCM
	programs["kill9"] = func() error { return syscall.Kill(os.Getpid(), syscall.SIGKILL) }
}

// runProgram runs test program name under a supervisor whose other
// kernel is k, and returns its exit status, stdout and stderr and the trace.
func runProgram(t *testing.T, o supervise.Options, name string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr strings.Builder
	o.Stdout, o.Stderr = &stdout, &stderr
	o.Env = append(os.Environ(), progEnv+"="+name)
	code, err := supervise.Run(context.Background(), o, append([]string{os.Args[0]}, args...))
	require.NoError(t, err)
	return code, stdout.String(), stderr.String()
}

// runTraced runs test program name as runProgram does, with o.Trace set,
// requires its exit status 0 and returns the trace.
func runTraced(t *testing.T, o supervise.Options, name string) string {
	t.Helper()
	var trace strings.Builder
	o.Trace = &trace
	code, out, errs := runProgram(t, o, name)
	require.Equal(t, 0, code, "stdout: %s\nstderr: %s\ntrace: %s", out, errs, trace.String())
	return trace.String()
}

// TestRunHost runs programs with the host kernel, in the supervisor, as
// the other kernel and no ForProcess: the calls that need no memory of
// the child work, the others are refused.
func TestRunHost(t *testing.T) {
	kerneltest.CheckFDs(t, sys.Host())
	trace := runTraced(t, supervise.Options{Kernel: sys.Host(), Sockets: supervise.SocketsLKL}, "fds")
	require.Contains(t, trace, "socket(")
	require.Contains(t, trace, "not handled: bind")

	code, _, _ := runProgram(t, supervise.Options{Kernel: sys.Host()}, "exit3")
	require.Equal(t, 3, code)
	code, _, _ = runProgram(t, supervise.Options{Kernel: sys.Host()}, "kill9")
	require.Equal(t, 128+9, code, "killed by SIGKILL: 128+9, as a shell says")
}

func raw(trap uintptr, a ...uintptr) (uintptr, syscall.Errno) {
	var args [6]uintptr
	copy(args[:], a)
	r, _, e := syscall.Syscall6(trap, args[0], args[1], args[2], args[3], args[4], args[5])
	return r, e
}

func want(what string, r uintptr, e syscall.Errno, ok func(r uintptr, e syscall.Errno) bool) error {
	if !ok(r, e) {
		return fmt.Errorf("%s: %d, %v", what, int(r), e)
	}
	return nil
}

// progFDs checks the supervisor's fd table from the child's side.
func progFDs() error {
	s, e := raw(unix.SYS_SOCKET, unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if e != 0 || s < fdBase {
		return fmt.Errorf("socket: %d, %v", s, e)
	}
	d, e := raw(unix.SYS_DUP, s)
	if e != 0 || d < fdBase || d == s {
		return fmt.Errorf("dup: %d, %v", d, e)
	}
	errs := []error{
		want("fcntl F_DUPFD_CLOEXEC", fdBase+100, 0, func(uintptr, syscall.Errno) bool {
			r, e := raw(unix.SYS_FCNTL, s, unix.F_DUPFD_CLOEXEC, fdBase+100)
			return r == fdBase+100 && e == 0
		}),
	}
	r, e := raw(unix.SYS_FCNTL, s, unix.F_GETFD)
	errs = append(errs, want("F_GETFD", r, e, func(r uintptr, e syscall.Errno) bool { return e == 0 && r == unix.FD_CLOEXEC }))
	r, e = raw(unix.SYS_FCNTL, d, unix.F_GETFD)
	errs = append(errs, want("F_GETFD of dup", r, e, func(r uintptr, e syscall.Errno) bool { return e == 0 && r == 0 }))
	r, e = raw(unix.SYS_DUP3, s, fdBase+200, unix.O_CLOEXEC)
	errs = append(errs, want("dup3", r, e, func(r uintptr, e syscall.Errno) bool { return e == 0 && r == fdBase+200 }))
	r, e = raw(unix.SYS_DUP2, s, 1)
	errs = append(errs, want("dup2 onto a host fd", r, e, func(r uintptr, e syscall.Errno) bool { return e == unix.EOPNOTSUPP }))
	r, e = raw(unix.SYS_LISTEN, s, 5)
	errs = append(errs, want("listen", r, e, func(r uintptr, e syscall.Errno) bool { return e == 0 }))
	var sa unix.RawSockaddrInet4
	sa.Family = unix.AF_INET
	r, e = raw(unix.SYS_BIND, d, uintptr(unsafe.Pointer(&sa)), unsafe.Sizeof(sa))
	errs = append(errs, want("bind without ForProcess", r, e, func(r uintptr, e syscall.Errno) bool { return e == unix.EOPNOTSUPP }))
	r, e = raw(unix.SYS_CLOSE, d)
	errs = append(errs, want("close", r, e, func(r uintptr, e syscall.Errno) bool { return e == 0 }))
	r, e = raw(unix.SYS_CLOSE, d)
	errs = append(errs, want("close again", r, e, func(r uintptr, e syscall.Errno) bool { return e == unix.EBADF }))
	r, e = raw(unix.SYS_CLOSE, fdBase+5000)
	errs = append(errs, want("close of an fd never had", r, e, func(r uintptr, e syscall.Errno) bool { return e == unix.EBADF }))
	r, e = raw(unix.SYS_SOCKET, unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	errs = append(errs, want("unix socket", r, e, func(r uintptr, e syscall.Errno) bool { return e == 0 && r < fdBase }))
	raw(unix.SYS_CLOSE, r)
	r, e = raw(unix.SYS_GETPID)
	errs = append(errs, want("getpid", r, e, func(r uintptr, e syscall.Errno) bool { return int(r) == os.Getpid() }))
	// A poll with one of ours: answered in the other kernel (here the
	// host, in the supervisor): a listening socket with no connection is
	// not readable.
	var pipe [2]int32
	if _, e := raw(unix.SYS_PIPE2, uintptr(unsafe.Pointer(&pipe)), unix.O_CLOEXEC); e != 0 {
		return fmt.Errorf("pipe2: %v", e)
	}
	pfd := []unix.PollFd{{Fd: int32(s), Events: unix.POLLIN}, {Fd: pipe[0], Events: unix.POLLIN}, {Fd: -1}}
	r, e = raw(unix.SYS_POLL, uintptr(unsafe.Pointer(&pfd[0])), 3, 10)
	errs = append(errs, want(fmt.Sprintf("poll, nothing ready %+v", pfd), r, e, func(r uintptr, e syscall.Errno) bool { return e == 0 && r == 0 }))
	raw(unix.SYS_WRITE, uintptr(pipe[1]), uintptr(unsafe.Pointer(&pipe)), 1)
	r, e = raw(unix.SYS_POLL, uintptr(unsafe.Pointer(&pfd[0])), 3, 1000)
	errs = append(errs, want("poll, the pipe ready", r, e, func(r uintptr, e syscall.Errno) bool {
		return e == 0 && r == 1 && pfd[1].Revents == unix.POLLIN && pfd[0].Revents == 0
	}))
	raw(unix.SYS_CLOSE, uintptr(pipe[0]))
	raw(unix.SYS_CLOSE, uintptr(pipe[1]))
	r, e = raw(unix.SYS_POLL, 0x10, 1, 0)
	errs = append(errs, want("poll wild pointer", r, e, func(r uintptr, e syscall.Errno) bool { return e == unix.EFAULT }))
	r, e = raw(unix.SYS_CLOSE_RANGE, fdBase, ^uintptr(0)>>32, 0)
	errs = append(errs, want("close_range", r, e, func(r uintptr, e syscall.Errno) bool { return e == 0 }))
	r, e = raw(unix.SYS_CLOSE, s)
	errs = append(errs, want("close after close_range", r, e, func(r uintptr, e syscall.Errno) bool { return e == unix.EBADF }))
	return errors.Join(errs...)
}

// TestRunSCMRights: an fd of the other kernel passed over a host AF_UNIX
// socket is EOPNOTSUPP, listed once on the trace; a host fd passes.
func TestRunSCMRights(t *testing.T) {
	kerneltest.CheckFDs(t, sys.Host())
	trace := runTraced(t, supervise.Options{Kernel: sys.Host(), Sockets: supervise.SocketsLKL}, "scm")
	require.Equal(t, 1, strings.Count(trace, "not handled: sendmsg: passing an fd of the other kernel over a host socket (SCM_RIGHTS) (operation not supported)"), trace)
}

// progSCM sends fds over a host socket pair with SCM_RIGHTS.
func progSCM() error {
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(pair[0])
	defer unix.Close(pair[1])
	s, e := raw(unix.SYS_SOCKET, unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if e != 0 || s < fdBase {
		return fmt.Errorf("socket: %d, %v", s, e)
	}
	defer raw(unix.SYS_CLOSE, s)
	for range 2 { // refused twice, traced once
		if err := unix.Sendmsg(pair[0], []byte("x"), unix.UnixRights(int(s)), nil, 0); err != unix.EOPNOTSUPP {
			return fmt.Errorf("sendmsg of an fd of the other kernel: %v, want EOPNOTSUPP", err)
		}
	}
	// With a host fd beside it: refused as well, nothing sent.
	if err := unix.Sendmsg(pair[0], []byte("x"), unix.UnixRights(0, int(s)), nil, 0); err != unix.EOPNOTSUPP {
		return fmt.Errorf("sendmsg of a host fd and one of the other kernel: %v, want EOPNOTSUPP", err)
	}
	// A host fd alone: the host's call.
	if err := unix.Sendmsg(pair[0], []byte("y"), unix.UnixRights(0), nil, 0); err != nil {
		return fmt.Errorf("sendmsg of a host fd: %v", err)
	}
	buf, oob := make([]byte, 1), make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := unix.Recvmsg(pair[1], buf, oob, unix.MSG_CMSG_CLOEXEC|unix.MSG_DONTWAIT)
	if err != nil || n != 1 || buf[0] != 'y' {
		return fmt.Errorf("recvmsg: %d %q, %v", n, buf, err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return fmt.Errorf("control messages: %v", err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return fmt.Errorf("fds received: %v", err)
	}
	unix.Close(fds[0])
	// A message without control data, and a wild pointer: the host's.
	if err := unix.Sendmsg(pair[0], []byte("z"), nil, nil, 0); err != nil {
		return fmt.Errorf("sendmsg: %v", err)
	}
	if _, e := raw(unix.SYS_SENDMSG, uintptr(pair[0]), 0x10, 0); e != unix.EFAULT {
		return fmt.Errorf("sendmsg of a wild msghdr: %v, want EFAULT", e)
	}
	return nil
}

// exec returns a command running this test binary as a test program
// (env says which), not supervised.
func exec(env []string) *osexec.Cmd {
	cmd := osexec.Command(os.Args[0])
	cmd.Env = env
	return cmd
}
