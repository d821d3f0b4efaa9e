package supervise

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/libgo"
	"github.com/gokernel/gokernel/sys"
)

// childEnv, in the environment of a child Run starts, holds the fd of
// the child's end of the socket pair and the filter's options ("3",
// "3:paths", "3:paths,bridge"). Child removes it before the program starts.
const childEnv = "GOKERNEL_SUPERVISE_CHILD"

// Child makes this process the program, if Run started it as a
// supervised child, and never returns then; otherwise it returns at
// once. A program that calls Run calls Child first thing in main (or an
// init function) and in TestMain, before it starts anything: the child is
// a copy of the program, started again with the program to run.
func Child() {
	v, ok := os.LookupEnv(childEnv)
	if !ok {
		return
	}
	os.Unsetenv(childEnv)
	bind, _ := os.LookupEnv(bindEnv)
	os.Unsetenv(bindEnv)
	err := becomeProgram(v, bind, os.Args[1:])
	fmt.Fprintf(os.Stderr, "supervise: %v\n", err)
	os.Exit(127)
}

// becomeProgram installs the filter on this thread, sends its listener
// over the socket pair and executes args[0] with the arguments args[1:]
// (args[1] is the program's argv[0]). It returns only on failure.
//
// bind, if not empty, is bindEnv's value: the other kernel's single files
// to bind-mount over their paths (bindfiles.go); once they are in place,
// the filter sends no path calls.
func becomeProgram(v, bind string, args []string) error {
	fdStr, opts, _ := strings.Cut(v, ":")
	sock, err := strconv.Atoi(fdStr)
	if err != nil || len(args) < 2 {
		return fmt.Errorf("bad %s=%q or arguments %q", childEnv, v, args)
	}
	var fo FilterOptions
	for _, o := range strings.Split(opts, ",") {
		switch o {
		case "paths":
			fo.Paths = true
		case "bridge":
			fo.Bridge = true
		}
	}
	// The filter, the mount namespace and execve are this thread's: the
	// filter holds for the thread that executes the program (execve keeps
	// the calling thread's filter and ends the others), and unshare
	// changes only the calling thread's namespace.
	runtime.LockOSThread()
	if bind != "" && bindFiles(bind) {
		fo.Paths = false
	}
	prog, err := Filter(fo)
	if err != nil {
		return err
	}
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return err
	}
	filter := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		filter[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	fprog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	argv, err := cStrings(args[1:])
	if err != nil {
		return err
	}
	envv, err := cStrings(os.Environ())
	if err != nil {
		return err
	}
	path, err := unix.BytePtrFromString(args[0])
	if err != nil {
		return err
	}
	host := libgo.New(sys.Host())

	if _, _, e := sys.SyscallOn(sys.Host(), unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0); e != 0 {
		return fmt.Errorf("prctl(PR_SET_NO_NEW_PRIVS): %w", e)
	}
	// WAIT_KILLABLE_RECV (Linux 5.19): once the supervisor has taken a
	// call, only a fatal signal interrupts the wait for its answer. Without
	// it, a signal (Go's runtime preempts with SIGURG) would make the call
	// restart after the supervisor has made it: an epoll_ctl ADD made twice
	// is EEXIST, a write twice is data sent twice.
	listener, _, e := sys.SyscallOn(sys.Host(), unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_NEW_LISTENER|unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, uintptr(unsafe.Pointer(&fprog)), 0, 0, 0)
	if e == unix.EINVAL {
		listener, _, e = sys.SyscallOn(sys.Host(), unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_NEW_LISTENER, uintptr(unsafe.Pointer(&fprog)), 0, 0, 0)
	}
	if e != 0 {
		return fmt.Errorf("seccomp(SECCOMP_SET_MODE_FILTER, NEW_LISTENER): %w", e)
	}
	// From here on, the calls of this thread that the filter names wait
	// for the supervisor; these (on host fds below fdBase) do not. The
	// listener goes by sendmmsg: every sendmsg waits for the supervisor
	// (SCM_RIGHTS, scm.go), which is waiting for this.
	if err := sendFD(sock, int(listener)); err != nil {
		return fmt.Errorf("sending the listener: %w", err)
	}
	host.Close(int(listener))
	host.Close(sock)
	_, _, e = sys.SyscallOn(sys.Host(), unix.SYS_EXECVE, uintptr(unsafe.Pointer(path)), uintptr(unsafe.Pointer(&argv[0])), uintptr(unsafe.Pointer(&envv[0])), 0, 0, 0)
	return fmt.Errorf("%s: %w", args[0], e)
}

// sendFD sends fd over the socket sock (SCM_RIGHTS) with sendmmsg, one
// message of one byte.
func sendFD(sock, fd int) error {
	data := []byte{0}
	oob := unix.UnixRights(fd)
	iov := unix.Iovec{Base: &data[0]}
	iov.SetLen(len(data))
	msg := mmsghdr{Hdr: msghdr{Iov: uintptr(unsafe.Pointer(&iov)), Iovlen: 1, Control: uintptr(unsafe.Pointer(&oob[0])), Controllen: uint64(len(oob))}}
	n, _, e := sys.SyscallOn(sys.Host(), unix.SYS_SENDMMSG, uintptr(sock), uintptr(unsafe.Pointer(&msg)), 1, 0, 0, 0)
	runtime.KeepAlive(data)
	runtime.KeepAlive(oob)
	runtime.KeepAlive(&iov)
	switch {
	case e != 0:
		return e
	case n != 1 || msg.Len != 1:
		return fmt.Errorf("sendmmsg sent %d messages, %d bytes", n, msg.Len)
	}
	return nil
}

// cStrings returns ss as a NULL-terminated array of C strings.
func cStrings(ss []string) ([]*byte, error) {
	out := make([]*byte, len(ss)+1)
	for i, s := range ss {
		p, err := unix.BytePtrFromString(s)
		if err != nil {
			return nil, err
		}
		out[i] = p
	}
	return out, nil
}
