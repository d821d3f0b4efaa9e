package supervise

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/libgo"
	"github.com/gokernel/gokernel/sys"
)

// Options configure Run. Kernel is required; the zero value of the rest
// runs the program with the supervisor's standard files and environment.
type Options struct {
	// Kernel answers the intercepted calls (LKL): the calls without
	// pointer arguments, and the supervisor's own (close, dup, poll).
	Kernel sys.Kernel
	// ForProcess returns Kernel as process pid sees it: calls whose
	// pointer arguments are addresses in pid's memory
	// ((*lkl.Kernel).ForProcess). Without it, every such call fails with
	// EOPNOTSUPP.
	ForProcess func(pid int) (sys.Kernel, error)
	// Dirs are the absolute directories whose paths are Kernel's: the
	// mount points of its disks. Every other path is the host's.
	Dirs []string
	// Files are absolute paths of single files that are Kernel's
	// (/etc/resolv.conf, so that the program's resolver asks the DNS
	// server of Kernel's network).
	Files []string
	// Trace, if set, gets a line for every call the supervisor answers,
	// and one for each kind of call it refuses.
	Trace io.Writer
	// Sockets says how the program's TCP sockets reach Kernel: bridged
	// (the zero value) or as Kernel's fds.
	Sockets SocketMode
	// The program's standard files and environment (nil: the
	// supervisor's).
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Env            []string
}

// A SocketMode says how a program's TCP sockets (AF_INET and AF_INET6
// SOCK_STREAM) reach the other kernel.
type SocketMode int

const (
	// SocketsBridge gives the program, for each TCP socket, one end of a
	// host socket pair that the supervisor bridges to the other kernel's
	// socket: its reads, writes and waits on it are host calls, with no
	// round trip (bridge.go, docs/run.md).
	SocketsBridge SocketMode = iota
	// SocketsLKL gives the program the other kernel's fd itself: every
	// call on it is a round trip to the supervisor.
	SocketsLKL
)

// exitStatus is the program's exit status as Run returns it: for one
// killed by a signal, 128 plus the signal's number, as a shell says.
func exitStatus(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

// Run runs the program argv (argv[0] is looked up in PATH) under the
// supervisor until it exits, and returns its exit status. The program's
// calls on sockets of the inet families and netlink, and on paths under
// o.Dirs, are o.Kernel's; everything else runs on the host (package doc,
// docs/run.md). When ctx is done the program gets SIGTERM (SIGKILL 10 s
// later).
func Run(ctx context.Context, o Options, argv []string) (status int, err error) {
	if o.Kernel == nil {
		return 0, errors.New("supervise: Options.Kernel is nil")
	}
	if len(argv) == 0 {
		return 0, errors.New("supervise: no program")
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return 0, err
	}
	exe, err := os.Executable()
	if err != nil {
		return 0, fmt.Errorf("supervise: %w", err)
	}
	s := newSupervisor(o)
	host := libgo.New(sys.Host())
	pair, err := host.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("supervise: socketpair: %w", err)
	}
	theirs := os.NewFile(uintptr(pair[1]), "supervise")
	defer host.Close(pair[0])
	opts := "3"
	var flags []string
	if len(s.dirs)+len(s.files) > 0 {
		flags = append(flags, "paths")
	}
	if s.bridging() {
		flags = append(flags, "bridge")
	}
	if len(flags) > 0 {
		opts += ":" + strings.Join(flags, ",")
	}
	cmd := exec.CommandContext(ctx, exe, append([]string{path}, argv...)...)
	env := o.Env
	if env == nil {
		env = os.Environ()
	}
	cmd.Env = append(env[:len(env):len(env)], childEnv+"="+opts)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = o.Stdin, o.Stdout, o.Stderr
	if cmd.Stdin == nil {
		cmd.Stdin = os.Stdin
	}
	if cmd.Stdout == nil {
		cmd.Stdout = os.Stdout
	}
	if cmd.Stderr == nil {
		cmd.Stderr = os.Stderr
	}
	cmd.ExtraFiles = []*os.File{theirs}
	copies := s.bindCopies()
	if len(copies) > 0 {
		cmd.Env = append(cmd.Env, bindEnv+"="+bindEnvValue(copies, s.files))
	}
	// ctx done: SIGTERM, and SIGKILL if the program has not exited 10 s later.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	err = cmd.Start()
	theirs.Close()
	removeCopies := func() {
		for _, c := range copies {
			os.Remove(c) // the child has bound it, or will not
		}
		copies = nil
	}
	defer removeCopies()
	if err != nil {
		return 0, fmt.Errorf("supervise: %w", err)
	}
	s.root = cmd.Process.Pid
	listener, lerr := receiveListener(host, pair[0])
	removeCopies()
	if lerr == nil {
		s.listener = listener
		// The supervisor wakes on the child's CPU when it can (Linux 6.6).
		sys.SyscallOn(sys.Host(), unix.SYS_IOCTL, uintptr(listener), unix.SECCOMP_IOCTL_NOTIF_SET_FLAGS, unix.SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP, 0, 0, 0)
		if err := s.start(); err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			host.Close(listener)
			return 0, err
		}
	}
	werr := cmd.Wait()
	if lerr == nil {
		err = s.stop()
	}
	if cmd.ProcessState == nil {
		return 0, errors.Join(werr, err)
	}
	if lerr != nil && cmd.ProcessState.ExitCode() != 127 {
		err = errors.Join(err, fmt.Errorf("supervise: no listener from the child: %w", lerr))
	}
	return exitStatus(cmd.ProcessState), err
}

// receiveListener receives the listener fd the child sends on sock.
func receiveListener(host *libgo.Libc, sock int) (int, error) {
	buf := make([]byte, 1)
	oob := make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := host.Recvmsg(sock, buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return -1, err
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return -1, fmt.Errorf("the child sent no fd (%v)", err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return -1, fmt.Errorf("the child sent no fd (%v)", err)
	}
	return fds[0], nil
}

// A supervisor answers the notifications of one listener: the calls of
// a program and of the processes it starts.
type supervisor struct {
	o        Options
	host     *libgo.Libc
	k        sys.Kernel  // o.Kernel
	other    *libgo.Libc // libgo on k
	dirs     []string    // o.Dirs, cleaned
	files    []string    // o.Files, cleaned
	listener int
	root     int // the child's pid

	stopping atomic.Bool  // stop has begun: the loop ends
	loopTid  atomic.Int32 // the loop's thread, which stop signals

	loopDone chan error
	calls    sync.WaitGroup // handlers running

	mu    sync.Mutex
	procs map[int]*proc // by process id (tgid)
	tids  map[int]*proc // by thread id

	// write pumps of redirections (redirect.go); writePumps counts them
	// so that calls skip the barrier when there is none.
	pumps      pumps
	writePumps atomic.Int32

	bridges bridges // bridged TCP sockets (bridge.go)

	traceMu sync.Mutex
	refused map[string]bool // kinds of refused calls already traced
}

func newSupervisor(o Options) *supervisor {
	s := &supervisor{o: o, host: libgo.New(sys.Host()), k: o.Kernel, other: libgo.New(o.Kernel), procs: map[int]*proc{}, tids: map[int]*proc{}, refused: map[string]bool{}}
	s.pumps.set = map[*writePump]bool{}
	s.pumps.cond = sync.NewCond(&s.pumps.mu)
	for _, d := range o.Dirs {
		s.dirs = append(s.dirs, cleanPath(d))
	}
	for _, f := range o.Files {
		s.files = append(s.files, cleanPath(f))
	}
	return s
}

// start starts the loop that receives notifications.
func (s *supervisor) start() error {
	s.loopDone = make(chan error, 1)
	go func() { s.loopDone <- s.loop() }()
	return nil
}

// stop ends the loop once the child has exited, waits for the handlers
// and closes the other kernel's fds that the processes left open.
func (s *supervisor) stop() error {
	s.stopping.Store(true)
	var err error
	for tick := time.NewTicker(time.Millisecond); ; {
		if tid := s.loopTid.Load(); tid != 0 {
			sys.SyscallOn(sys.Host(), unix.SYS_TGKILL, uintptr(os.Getpid()), uintptr(tid), uintptr(syscall.SIGURG), 0, 0, 0)
		}
		select {
		case err = <-s.loopDone:
			tick.Stop()
		case <-tick.C:
			continue
		}
		break
	}
	s.mu.Lock()
	procs := s.procs
	s.procs, s.tids = map[int]*proc{}, map[int]*proc{}
	s.mu.Unlock()
	for _, p := range procs {
		p.closeAll(s, true)
	}
	s.bridges.stop(s)
	defer s.bridges.close(s)
	done := make(chan struct{})
	go func() { s.calls.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		err = errors.Join(err, errors.New("supervise: calls of the exited program still running in the kernel after 10 s"))
	}
	s.host.Close(s.listener)
	return err
}

// loop receives notifications until stop says to end, and answers each
// (quick ones itself, the others in a goroutine of their own: a call may
// block for as long as the program wants). It blocks in
// SECCOMP_IOCTL_NOTIF_RECV itself, one system call per notification; stop
// interrupts that with a signal to the loop's thread (SIGURG, which Go's
// runtime takes and ignores: its own preemption signal).
func (s *supervisor) loop() error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	s.loopTid.Store(int32(s.host.Gettid()))
	for !s.stopping.Load() {
		var n seccompNotif
		_, _, e := sys.SyscallOn(sys.Host(), unix.SYS_IOCTL, uintptr(s.listener), unix.SECCOMP_IOCTL_NOTIF_RECV, uintptr(unsafe.Pointer(&n)), 0, 0, 0)
		switch e {
		case 0:
		case syscall.EINTR, syscall.ENOENT: // a signal, or the caller went away before we took it
			continue
		default:
			return fmt.Errorf("supervise: SECCOMP_IOCTL_NOTIF_RECV: %w", e)
		}
		if quick(s, &n) {
			s.handle(&n)
			continue
		}
		s.calls.Add(1)
		go func() {
			defer s.calls.Done()
			s.handle(&n)
		}()
	}
	return nil
}

// addFD puts host fd src into the table of notification id's caller and
// answers the call with the number it gets (SECCOMP_IOCTL_NOTIF_ADDFD with
// SECCOMP_ADDFD_FLAG_SEND): at the lowest free number, or at newfd when it
// is not negative (replacing what is there, as dup2 does); close-on-exec
// with cloexec. An error means the caller has not been answered.
//
// The ioctl runs with every signal blocked on its thread. A signal that
// interrupts it while the caller has not yet taken the fd leaves the
// notification marked answered with no fd taken (Linux's
// seccomp_notify_addfd does not undo SEND's state), so the caller's call
// returns 0 — a number it never got — and the restarted ioctl finds no
// notification. Go's runtime signals its threads at any time (preemption,
// GC), so this is not rare: TestRunAddfdSignals.
func (s *supervisor) addFD(id uint64, src, newfd int, cloexec bool) (int, sys.Errno) {
	a := seccompNotifAddfd{ID: id, Flags: unix.SECCOMP_ADDFD_FLAG_SEND, Srcfd: uint32(src)}
	if newfd >= 0 {
		a.Flags |= unix.SECCOMP_ADDFD_FLAG_SETFD
		a.Newfd = uint32(newfd)
	}
	if cloexec {
		a.NewfdFlags = unix.O_CLOEXEC
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if testHookAddFD != nil {
		testHookAddFD()
	}
	all, old := ^uint64(0), uint64(0)
	if _, _, e := sys.SyscallOn(sys.Host(), unix.SYS_RT_SIGPROCMASK, unix.SIG_BLOCK, uintptr(unsafe.Pointer(&all)), uintptr(unsafe.Pointer(&old)), 8, 0, 0); e != 0 {
		return -1, e
	}
	n, _, e := sys.SyscallOn(sys.Host(), unix.SYS_IOCTL, uintptr(s.listener), unix.SECCOMP_IOCTL_NOTIF_ADDFD, uintptr(unsafe.Pointer(&a)), 0, 0, 0)
	sys.SyscallOn(sys.Host(), unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, uintptr(unsafe.Pointer(&old)), 0, 8, 0, 0)
	if e != 0 {
		return -1, e
	}
	return int(n), 0
}

// testHookAddFD, if set, runs on addFD's thread just before the ioctl.
var testHookAddFD func()

// idValid reports whether notification id still waits for its answer
// (its caller has not been interrupted or died).
func (s *supervisor) idValid(id uint64) bool {
	_, _, e := sys.SyscallOn(sys.Host(), unix.SYS_IOCTL, uintptr(s.listener), unix.SECCOMP_IOCTL_NOTIF_ID_VALID, uintptr(unsafe.Pointer(&id)), 0, 0, 0)
	return e == 0
}

// handle answers one notification.
func (s *supervisor) handle(n *seccompNotif) {
	c := &call{s: s, id: n.ID, tid: int(n.Pid), nr: uintptr(n.Data.Nr)}
	for i, a := range n.Data.Args {
		c.args[i] = uintptr(a)
	}
	start := time.Now()
	var r result
	if p, err := s.procOf(c.tid); err != nil {
		r = result{err: syscall.ESRCH}
	} else {
		c.p = p
		r = answer(c)
	}
	if r.sent {
		if s.o.Trace != nil {
			s.trace(c, r, time.Since(start))
		}
		return
	}
	resp := seccompNotifResp{ID: n.ID, Val: int64(r.val), Error: -int32(r.err)}
	if r.cont {
		resp = seccompNotifResp{ID: n.ID, Flags: unix.SECCOMP_USER_NOTIF_FLAG_CONTINUE}
	}
	_, _, e := sys.SyscallOn(sys.Host(), unix.SYS_IOCTL, uintptr(s.listener), unix.SECCOMP_IOCTL_NOTIF_SEND, uintptr(unsafe.Pointer(&resp)), 0, 0, 0)
	if e != 0 && r.undo != nil {
		r.undo() // the caller is gone: what the call made is nobody's
	}
	if s.o.Trace != nil {
		s.trace(c, r, time.Since(start))
	}
}

// trace prints an answered call, strace style, with who answered it.
func (s *supervisor) trace(c *call, r result, d time.Duration) {
	sc := sys.Call{Kernel: s.k.Name(), Trap: c.nr, Args: c.args, R1: r.val, Err: r.err, Duration: d}
	who := s.k.Name()
	if r.refused != "" {
		who = "refused: " + r.refused
	}
	// A path call names its path, read again (the program may have
	// changed it since: this is for reading, not for deciding).
	var path string
	if pa, ok := pathArgs[c.nr]; ok && c.args[pa.path] != 0 {
		if p, e := readPath(c.tid, c.args[pa.path]); e == 0 {
			path = " " + strconv.Quote(p)
		}
	}
	s.traceMu.Lock()
	defer s.traceMu.Unlock()
	if r.cont { // the host runs it after the answer: no result to show
		line := sc.String()
		if i := strings.LastIndex(line, ") = "); i >= 0 {
			line = line[:i+1]
		}
		fmt.Fprintf(s.o.Trace, "[%d] %s%s [host]\n", c.tid, line, path)
		return
	}
	fmt.Fprintf(s.o.Trace, "[%d] %s%s [%s]\n", c.tid, sc.String(), path, who)
}

// refuse is the answer to a call the supervisor does not handle: errno e,
// and a line on the trace the first time this kind of call is refused.
func (s *supervisor) refuse(c *call, e sys.Errno, why string) result {
	if s.o.Trace != nil {
		key := sys.SyscallName(c.nr) + ": " + why
		s.traceMu.Lock()
		first := !s.refused[key]
		s.refused[key] = true
		s.traceMu.Unlock()
		if first {
			fmt.Fprintf(s.o.Trace, "supervise: not handled: %s (%s)\n", key, e.Error())
		}
	}
	return result{err: e, refused: why}
}

// kcmpFiles is KCMP_FILES (linux/kcmp.h), which x/sys/unix lacks: kcmp
// compares the two processes' fd tables.
const kcmpFiles = 2

// procOf returns the process of thread tid, meeting it if new: a
// process forked by a known one starts with copies of its parent's fds.
func (s *supervisor) procOf(tid int) (*proc, error) {
	s.mu.Lock()
	p := s.tids[tid]
	s.mu.Unlock()
	if p != nil {
		return p, nil
	}
	tgid, ppid, err := s.statusIDs(tid)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p = s.procs[tgid]
	if p == nil {
		p = &proc{pid: tgid, fds: map[int]*lfd{}, epolls: map[int]*mixedEpoll{}}
		if s.o.ForProcess != nil {
			if pk, err := s.o.ForProcess(tgid); err == nil {
				p.k = pk
			}
		}
		if parent := s.procs[ppid]; parent != nil && tgid != s.root {
			// kcmp(KCMP_FILES) is 0 when the two share one fd table.
			if r, _, e := sys.SyscallOn(sys.Host(), unix.SYS_KCMP, uintptr(ppid), uintptr(tgid), kcmpFiles, 0, 0, 0); e == 0 && r == 0 {
				p.sharesFiles = true
			} else {
				parent.forkInto(s, p)
			}
		}
		p.pidfd(s) // now, while tgid is surely this process
		s.reapLocked()
		s.procs[tgid] = p
	}
	s.tids[tid] = p
	return p, nil
}

// reapLocked forgets the processes that have exited, other than the
// child (Run's end closes its fds), and closes their fds of the other
// kernel: a program that starts many processes (a shell) does not pile
// them up. It runs when a new process appears; s.mu is held.
func (s *supervisor) reapLocked() {
	for pid, p := range s.procs {
		if pid == s.root {
			continue
		}
		pfd, e := p.pidfd(s)
		if e == 0 {
			pfds := []unix.PollFd{{Fd: int32(pfd), Events: unix.POLLIN}}
			sys.SyscallOn(sys.Host(), unix.SYS_PPOLL, uintptr(unsafe.Pointer(&pfds[0])), 1, uintptr(unsafe.Pointer(&unix.Timespec{})), 0, 0, 0)
			if pfds[0].Revents == 0 {
				continue // alive
			}
		}
		delete(s.procs, pid)
		for tid, tp := range s.tids {
			if tp == p {
				delete(s.tids, tid)
			}
		}
		p.closeAll(s, false)
	}
}

// statusIDs reads the process id and parent process id of thread tid
// from /proc/TID/status.
func (s *supervisor) statusIDs(tid int) (tgid, ppid int, err error) {
	v, err := s.status(tid, "Tgid", "PPid")
	if err != nil {
		return 0, 0, err
	}
	if v[0] == 0 {
		return 0, 0, fmt.Errorf("no Tgid in /proc/%d/status", tid)
	}
	return v[0], v[1], nil
}

// fdTableSize returns the size of thread tid's fd table (FDSize): the
// fds it may have are below it.
func (s *supervisor) fdTableSize(tid int) (int, error) {
	v, err := s.status(tid, "FDSize")
	if err != nil {
		return 0, err
	}
	return v[0], nil
}

// status reads the numeric fields keys (0 if absent) of /proc/TID/status.
func (s *supervisor) status(tid int, keys ...string) ([]int, error) {
	fd, err := s.host.Open("/proc/"+strconv.Itoa(tid)+"/status", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer s.host.Close(fd)
	buf := make([]byte, 4096)
	n, err := s.host.Read(fd, buf)
	if err != nil {
		return nil, err
	}
	v := make([]int, len(keys))
	for line := range strings.SplitSeq(string(buf[:n]), "\n") {
		for i, k := range keys {
			if x, ok := strings.CutPrefix(line, k+":"); ok {
				v[i], _ = strconv.Atoi(strings.TrimSpace(x))
			}
		}
	}
	return v, nil
}
