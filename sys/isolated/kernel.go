package isolated

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/sys/host"
	"github.com/gokernel/gokernel/sys/lkl"
	"github.com/gokernel/gokernel/sys/lkl/usernet"
)

// Environment of the child: EnvChild marks the process as an isolated
// kernel's child (the init hook of this package serves and exits);
// envParent is the pid whose memory the calls' pointers are in.
const (
	EnvChild  = "GOKERNEL_ISOLATED_CHILD"
	envParent = "GOKERNEL_ISOLATED_PARENT"
)

// The child's extra files: the configuration (JSON, read to EOF), the
// channel's memfd, and LKL's ends of the user networks' socketpairs.
const (
	childConfigFD = 3
	childChanFD   = 4
	childNetFD    = 5 // LKL's end of the first user network, then the next...
)

// errHalted is the errno of a call once the kernel is halting: the same
// as lkl.ErrHalted (which only -tags lkl builds have).
const errHalted = syscall.ESHUTDOWN

// Kernel states; a kernel only moves forward through them.
const (
	stateRunning int32 = iota
	stateHalting
	stateHalted
	stateDead
)

// A Kernel is LKL running in a child process (see the package doc). It
// implements sys.Kernel and sys.Halter; its methods are safe for
// concurrent use.
type Kernel struct {
	cfg   lkl.Config
	h     host.Caller
	ch    *channel
	slots *slots
	cmd   *exec.Cmd
	con   *console

	// chMu guards the channel's mapping: a request holds it for reading,
	// Halt takes it to unmap the channel once the child is gone (gone).
	chMu sync.RWMutex
	gone bool

	nets     []*usernet.Network // the user networks, run here; set in Start
	forwards []net.Addr

	state    atomic.Int32
	died     atomic.Pointer[DiedError]
	exited   chan struct{} // closed once the child has been waited for
	killWhy  atomic.Pointer[string]
	killKey  atomic.Pointer[string]
	haltOnce sync.Once
	haltErr  error
}

// A DiedError says that the kernel's process ended without being halted:
// it crashed (LKL's panic ends in abort), was killed, or stopped answering
// for longer than the deadline and was killed. Every call pending then and
// every later one returned EIO; Halt (so sys.Shutdown) returns it.
type DiedError struct {
	Pid      int
	Signal   syscall.Signal // the signal that ended it, or 0
	ExitCode int            // its exit status when Signal is 0
	Reason   string         // why the parent killed it, if it did
	// Deadline is the configuration key whose deadline passed, if that
	// is why the parent killed it: "isolation_deadline" (the heartbeat
	// stopped) or "isolation_call_deadline" (one call ran too long;
	// Reason names it).
	Deadline string
	Console  string // the end of its console output (LKL's panic text, when debug is on)
}

func (e *DiedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "isolated: the kernel's process %d died: ", e.Pid)
	switch {
	case e.Reason != "":
		fmt.Fprintf(&b, "%s (killed, %v)", e.Reason, e.Signal)
	case e.Signal != 0:
		fmt.Fprintf(&b, "signal %v", e.Signal)
	default:
		fmt.Fprintf(&b, "exit status %d", e.ExitCode)
	}
	if c := strings.TrimSpace(e.Console); c != "" {
		lines := strings.Split(c, "\n")
		if len(lines) > 8 {
			lines = lines[len(lines)-8:]
		}
		fmt.Fprintf(&b, "; its console ended with:\n%s", strings.Join(lines, "\n"))
	}
	return b.String()
}

// Unwrap returns EIO, the errno the calls got.
func (e *DiedError) Unwrap() error { return syscall.EIO }

// Start boots the kernel cfg describes in a child process: this program's
// own binary, started again with EnvChild set, whose init hook (this
// package's, linked with -tags lkl) boots LKL and serves the calls. Start
// returns once the child has booted, or with its boot error.
//
// The child is killed if this process dies (Pdeathsig): strictly, if the
// thread that started it exits, which a Go program's threads do only when
// a goroutine locked to one (runtime.LockOSThread) ends without unlocking;
// do not call Start from such a goroutine.
func Start(cfg *lkl.Config) (*Kernel, error) {
	if cfg == nil {
		cfg = &lkl.Config{}
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if !childSupported {
		return nil, errors.New("isolated: this binary was built without -tags lkl: its child could not boot LKL")
	}
	if inChild {
		return nil, errors.New("isolated: an isolated kernel's child cannot start one")
	}
	k := &Kernel{cfg: *cfg, h: cfg.Host, slots: newSlots(), exited: make(chan struct{})}
	k.cfg.Isolation = "process" // user networks are restricted by default
	// The child gets the configuration without the port forwards, which
	// this process runs, with its user networks.
	childCfg := k.cfg
	childCfg.Forward = nil
	conf, err := json.Marshal(&childCfg)
	if err != nil {
		return nil, fmt.Errorf("isolated: %w", err)
	}
	lklEnds, err := k.startNetworks()
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, f := range lklEnds {
			f.Close() // the child has its copies
		}
	}()
	k.ch, err = newChannel(k.h)
	if err != nil {
		k.closeNetworks()
		return nil, err
	}
	cr, cw, err := os.Pipe()
	if err != nil {
		k.ch.unmap()
		k.closeNetworks()
		return nil, fmt.Errorf("isolated: %w", err)
	}
	chanFile := os.NewFile(uintptr(k.ch.fd), "gokernel-isolated")
	k.ch.fd = -1 // chanFile owns it now
	k.con = newConsole(os.Stderr, cfg.DebugLevel() != 0)
	k.cmd = exec.Command("/proc/self/exe")
	k.cmd.Args = []string{os.Args[0] + " [gokernel isolated]"}
	k.cmd.Env = append(childEnviron(), EnvChild+"=1", envParent+"="+strconv.Itoa(os.Getpid()))
	k.cmd.Stdin, k.cmd.Stdout, k.cmd.Stderr = os.Stdin, os.Stdout, k.con
	k.cmd.ExtraFiles = append([]*os.File{cr, chanFile}, lklEnds...) // fds 3, 4, then 5... (childNetFD)
	k.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err = k.cmd.Start()
	cr.Close()
	chanFile.Close()
	if err != nil {
		cw.Close()
		k.ch.unmap()
		k.closeNetworks()
		return nil, fmt.Errorf("isolated: starting the child: %w", err)
	}
	allowTracer(k.h, k.cmd.Process.Pid)
	go func() { // the child reads the configuration to EOF
		cw.Write(conf)
		cw.Close()
	}()
	go k.wait()
	if err := k.awaitBoot(); err != nil {
		k.cmd.Process.Kill()
		<-k.exited
		k.unmap()
		k.closeNetworks()
		return nil, err
	}
	if beat, call := k.cfg.Deadline(), k.cfg.CallDeadline(); beat > 0 || call > 0 {
		go k.watch(beat, call, atomic.LoadUint64(&k.ch.head.beats))
	}
	for i, s := range k.cfg.Forward {
		f, _ := usernet.ParseForward(s)
		a, err := k.Forward(f)
		if err != nil {
			k.Halt()
			return nil, fmt.Errorf("lkl config: forward[%d]: %w", i, err)
		}
		k.forwards = append(k.forwards, a)
	}
	return k, nil
}

// startNetworks starts the configuration's user networks in this process
// and returns LKL's ends of their socketpairs, for the child: the NAT, the
// DNS forwarder, the port forwards and their policy run here, and the
// child makes no socket call at all.
func (k *Kernel) startNetworks() ([]*os.File, error) {
	var ends []*os.File
	for i, ifc := range k.cfg.Interfaces {
		if ifc.Type != "user" {
			continue
		}
		ucfg, err := k.cfg.UserNetConfig(i)
		if err == nil {
			var fds [2]int
			if fds, err = lkl.UserSocketpair(k.h); err == nil {
				var n *usernet.Network
				if n, err = usernet.New(fds[1], ucfg); err == nil {
					k.nets = append(k.nets, n)
					ends = append(ends, os.NewFile(uintptr(fds[0]), "usernet"))
					continue
				}
				host.Close(k.h, fds[0])
			}
		}
		for _, f := range ends {
			f.Close()
		}
		k.closeNetworks()
		return nil, fmt.Errorf("isolated: interfaces[%d]: %w", i, err)
	}
	return ends, nil
}

// closeNetworks stops the user networks (the program may have closed
// them already).
func (k *Kernel) closeNetworks() error {
	var errs []error
	for _, n := range k.nets {
		if err := n.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	k.nets = nil
	return errors.Join(errs...)
}

// UserNetwork returns the user network of the first interface of type
// "user" (it runs in this process), or nil; as lkl.Kernel.UserNetwork.
func (k *Kernel) UserNetwork() *usernet.Network {
	if len(k.nets) == 0 {
		return nil
	}
	return k.nets[0]
}

// Forward starts a port forward into the kernel through its first user
// network and returns the host address it listens on; as
// lkl.Kernel.Forward.
func (k *Kernel) Forward(f usernet.Forward) (net.Addr, error) {
	n := k.UserNetwork()
	if n == nil {
		return nil, errors.New("isolated: port forwards need an interface of type user")
	}
	return n.Forward(f)
}

// Forwards returns the host addresses of the configuration's port
// forwards, in order.
func (k *Kernel) Forwards() []net.Addr { return k.forwards }

// childEnviron is this process's environment without the variables that
// select a default kernel: the child boots LKL itself.
func childEnviron() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOKERNEL") {
			env = append(env, kv)
		}
	}
	return env
}

// allowTracer lets the child use process_vm_* on this process under
// Yama's ptrace_scope 1, where only an ancestor may (PR_SET_PTRACER names
// the one process that may besides; a process has one such exception).
func allowTracer(h host.Caller, pid int) {
	if b, err := os.ReadFile("/proc/sys/kernel/yama/ptrace_scope"); err == nil && strings.TrimSpace(string(b)) == "1" {
		host.Call(h, unix.SYS_PRCTL, unix.PR_SET_PTRACER, uintptr(pid), 0, 0, 0, 0)
	}
}

// awaitBoot waits for the child to say it booted, or why not.
func (k *Kernel) awaitBoot() error {
	var (
		sleeping uint32
		budget   int32
	)
	for {
		st := atomic.LoadUint32(&k.ch.head.state)
		switch st {
		case childReady:
			return nil
		case childFailed:
			n := min(int(atomic.LoadUint32(&k.ch.head.errLen)), errSize)
			msg := string(k.ch.head.errMsg[:n])
			if msg == "" {
				if d := k.died.Load(); d != nil {
					return d
				}
				msg = "the child failed to boot"
			}
			return errors.New(msg)
		}
		// k.wait sets childFailed (and wakes this) if the child exits.
		await(k.h, &k.ch.head.state, st, &sleeping, &budget)
	}
}

// wait reaps the child, then fails every pending and later call.
func (k *Kernel) wait() {
	err := k.cmd.Wait()
	// A child that exits cleanly after the halt request has halted; the
	// state may not say so yet (halt stores it after the answer).
	if st := k.state.Load(); st == stateRunning || err != nil {
		d := &DiedError{Pid: k.cmd.Process.Pid, Console: k.con.tail()}
		if p := k.killWhy.Load(); p != nil {
			d.Reason = *p
		}
		if p := k.killKey.Load(); p != nil {
			d.Deadline = *p
		}
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				d.Signal = ws.Signal()
			} else {
				d.ExitCode = ee.ExitCode()
			}
		}
		k.died.Store(d)
		k.state.Store(stateDead)
	}
	if atomic.LoadUint32(&k.ch.head.state) == childBooting {
		atomic.StoreUint32(&k.ch.head.state, childFailed)
		futexWake(k.h, &k.ch.head.state)
	}
	k.ch.kill()
	close(k.exited)
}

// Name returns "lkl".
func (k *Kernel) Name() string { return "lkl" }

// IsHost reports false: the kernel's fds are not this process's.
func (k *Kernel) IsHost() bool { return false }

// Pid returns the child's process id.
func (k *Kernel) Pid() int { return k.cmd.Process.Pid }

// Config returns the configuration the kernel was started with.
func (k *Kernel) Config() lkl.Config { return k.cfg }

// Died returns the DiedError once the child has died, else nil.
func (k *Kernel) Died() *DiedError { return k.died.Load() }

// Syscall sends the call to the child and waits for its answer. Pointer
// arguments stay in this process: the child reads and writes them with
// process_vm_readv and process_vm_writev (lkl.Kernel.ForProcess). Once
// the child has died every call returns EIO; once the kernel is halting,
// errHalted.
func (k *Kernel) Syscall(trap, a1, a2, a3, a4, a5, a6 uintptr) (r1, r2 uintptr, err syscall.Errno) {
	switch k.state.Load() {
	case stateDead:
		return ^uintptr(0), 0, syscall.EIO
	case stateHalting, stateHalted:
		return ^uintptr(0), 0, errHalted
	}
	if trap >= ctlHalt {
		return ^uintptr(0), 0, syscall.ENOSYS
	}
	return k.call(trap, [6]uintptr{a1, a2, a3, a4, a5, a6})
}

func (k *Kernel) call(trap uintptr, a [6]uintptr) (uintptr, uintptr, syscall.Errno) {
	r1, r2, e, err := k.request(trap, a)
	if err != nil {
		if k.state.Load() != stateRunning && k.died.Load() == nil {
			return ^uintptr(0), 0, errHalted
		}
		return ^uintptr(0), 0, syscall.EIO
	}
	return r1, r2, e
}

// request makes one request on a free slot; err is errDead if the child
// is gone.
func (k *Kernel) request(trap uintptr, a [6]uintptr) (r1, r2 uintptr, e syscall.Errno, err error) {
	k.chMu.RLock()
	defer k.chMu.RUnlock()
	if k.gone {
		return 0, 0, 0, errDead
	}
	i, seq := k.slots.get(trap, a[0])
	r1, r2, e, err = k.ch.call(i, seq, trap, a, &k.slots.budget[i])
	k.slots.put(i)
	return r1, r2, e, err
}

// Halt halts LKL in the child (it unmounts and flushes the disks) and
// waits for the child to exit. If the child had died, Halt returns its
// *DiedError; a second Halt returns what the first did.
func (k *Kernel) Halt() error {
	k.haltOnce.Do(func() {
		k.haltErr = k.halt()
		k.unmap()
	})
	return k.haltErr
}

// unmap releases the channel once the child has exited: a program that
// starts many isolated kernels keeps no memory of the halted ones. A call
// that comes later finds the kernel halted or dead without touching it.
func (k *Kernel) unmap() {
	k.chMu.Lock()
	defer k.chMu.Unlock()
	if !k.gone {
		k.gone = true
		k.ch.unmap()
	}
}

func (k *Kernel) halt() error {
	if !k.state.CompareAndSwap(stateRunning, stateHalting) {
		<-k.exited
		k.closeNetworks()
		if d := k.died.Load(); d != nil {
			return d
		}
		return nil
	}
	// The answer may be lost to a race: the child answers and exits at
	// once, and k.wait may mark the slots dead before this reads it. A
	// child that exits cleanly while halting has halted.
	_, _, e, err := k.request(ctlHalt, [6]uintptr{})
	var herr error
	if err == nil && e != 0 {
		n := min(int(atomic.LoadUint32(&k.ch.head.errLen)), errSize)
		herr = fmt.Errorf("isolated: halt: %s", k.ch.head.errMsg[:n])
	}
	if err == nil {
		k.state.CompareAndSwap(stateHalting, stateHalted)
	}
	select {
	case <-k.exited:
	case <-time.After(haltWait(k.cfg.Deadline())):
		why := "the child did not exit after halting"
		k.killWhy.Store(&why)
		k.cmd.Process.Kill()
		<-k.exited
	}
	nerr := k.closeNetworks()
	if d := k.died.Load(); d != nil {
		return d
	}
	k.state.CompareAndSwap(stateHalting, stateHalted)
	return errors.Join(herr, nerr)
}

// haltWait is how long Halt waits for the child to exit after its answer.
func haltWait(deadline time.Duration) time.Duration {
	if deadline == 0 {
		return time.Minute
	}
	return deadline
}

// console is the child's stderr as the parent sees it: passed on to the
// parent's stderr (kernel messages only with debug on) and the last
// consoleTail bytes kept for a DiedError.
type console struct {
	dst      io.Writer
	debug    bool
	mu       sync.Mutex
	buf      []byte
	inKernel bool // the last line was the kernel's: a bare newline after it is too
}

const consoleTail = 8 << 10

func newConsole(dst io.Writer, debug bool) *console { return &console{dst: dst, debug: debug} }

// Write implements io.Writer for exec.Cmd's copy of the child's stderr.
func (c *console) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.buf = append(c.buf, p...)
	if len(c.buf) > consoleTail {
		c.buf = append(c.buf[:0], c.buf[len(c.buf)-consoleTail:]...)
	}
	var out bytes.Buffer
	for _, line := range bytes.SplitAfter(p, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		if string(line) != "\n" {
			c.inKernel = kernelMessage(line)
		}
		if c.debug || !c.inKernel {
			out.Write(line)
		}
	}
	c.mu.Unlock()
	if out.Len() > 0 {
		c.dst.Write(out.Bytes())
	}
	return len(p), nil
}

func (c *console) tail() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return string(c.buf)
}

// kernelMessage reports whether line is a kernel message, as LKL prints
// them on its console: "[    0.000000] text" (CONFIG_PRINTK_TIME), or a
// stack trace's frame, which comes without a time: " kobject_put+0x84/0x100".
// The program's own stderr (LKL's fd 2) shares the child's stderr with
// the kernel's messages; a program line of either form is taken for the
// kernel's.
func kernelMessage(line []byte) bool {
	return kernelLine.Match(line)
}

var kernelLine = regexp.MustCompile(`^(\[ *[0-9]+\.[0-9]+\] | [A-Za-z0-9_.]+\+0x[0-9a-f]+/0x[0-9a-f]+\n?$)`)
