//go:build lkl

package isolated

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/sys/host"
	"github.com/gokernel/gokernel/sys/lkl"
)

// childSupported: this binary can serve as an isolated kernel's child.
const childSupported = true

// inChild is set in the child, before main.
var inChild = os.Getenv(EnvChild) != ""

// The child is this binary started again by Start. The hook runs in
// package initialization, before main or TestMain, so no program needs
// to call anything for its binary to serve as a child: it serves, then
// exits.
func init() {
	if inChild {
		os.Exit(serve())
	}
}

// probeHook, set only by this package's tests, runs in the child on the
// parent's ctlProbe request: it tries what the sandbox must deny.
var probeHook func(a [6]uintptr) (r1, r2 uintptr, e syscall.Errno)

// heartbeat is how often the child proves that LKL answers.
const heartbeat = 100 * time.Millisecond

// serve boots LKL as the parent's configuration says and answers its
// calls until the parent asks for a halt. The result is the exit status.
func serve() int {
	h := host.Kernel{}
	ch, err := mapChannel(h, childChanFD)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if ch.head.magic != chanMagic {
		fmt.Fprintln(os.Stderr, "isolated: fd 4 is not a channel")
		return 2
	}
	fail := func(err error) int {
		msg := []byte(err.Error())
		n := copy(ch.head.errMsg[:], msg)
		atomic.StoreUint32(&ch.head.errLen, uint32(n))
		atomic.StoreUint32(&ch.head.state, childFailed)
		futexWake(h, &ch.head.state)
		return 1
	}
	parent, err := strconv.Atoi(os.Getenv(envParent))
	if err != nil {
		return fail(fmt.Errorf("isolated: %s=%q: %w", envParent, os.Getenv(envParent), err))
	}
	f := os.NewFile(childConfigFD, "config")
	data, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		return fail(fmt.Errorf("isolated: reading the configuration: %w", err))
	}
	var cfg lkl.Config
	if err := json.Unmarshal(data, &cfg); err != nil {
		return fail(fmt.Errorf("isolated: the configuration: %w", err))
	}
	// The user networks run in the parent; LKL gets their ends.
	next := childNetFD
	for i := range cfg.Interfaces {
		if cfg.Interfaces[i].Type == "user" {
			cfg.Interfaces[i].ServedFD = next
			next++
		}
	}
	if err := lockDownBeforeBoot(h, &cfg); err != nil {
		return fail(err)
	}
	// Kernel messages go to the console (the parent keeps its end for a
	// DiedError and shows them only if the configuration's debug is on).
	cfg.Debug = "1"
	cfg.Host = h
	k, err := lkl.Boot(&cfg)
	if err != nil {
		return fail(err)
	}
	p, err := k.ForProcess(parent)
	if err != nil {
		k.Halt()
		return fail(err)
	}
	// A parent that died before Pdeathsig was armed has no one to serve.
	if ppid, _, _ := host.Call(h, unix.SYS_GETPPID, 0, 0, 0, 0, 0, 0); int(ppid) != parent {
		k.Halt()
		return fail(fmt.Errorf("isolated: the parent %d is gone", parent))
	}
	// The parent's pidfd, for the fds of disks added at run time (-1 on
	// a host without pidfd_open: AddDisk then fails with its errno).
	pidfd, _, e := host.Call(h, unix.SYS_PIDFD_OPEN, uintptr(parent), 0, 0, 0, 0, 0)
	if e != 0 {
		pidfd = ^uintptr(0)
	}
	if err := lockDownAfterBoot(parent, int(pidfd)); err != nil {
		k.Halt()
		return fail(err)
	}
	s := &server{h: h, ch: ch, k: k, p: p, halt: make(chan int), pidfd: int(pidfd), pidfdErr: e}
	go s.beat()
	go s.worker(0)
	atomic.StoreUint32(&ch.head.state, childReady)
	futexWake(h, &ch.head.state)

	i := <-s.halt
	sl := ch.slot(i)
	sl.r1, sl.r2, sl.errno = 0, 0, 0
	if err := k.Halt(); err != nil {
		n := copy(ch.head.errMsg[:], err.Error())
		atomic.StoreUint32(&ch.head.errLen, uint32(n))
		sl.errno = uint64(syscall.EIO)
	}
	publish(h, &sl.resp, atomic.LoadUint32(&sl.req), &sl.parentSleeping)
	return 0
}

// server answers the parent's calls.
type server struct {
	h    host.Caller
	ch   *channel
	k    *lkl.Kernel
	p    *lkl.Process
	halt chan int // the slot of the halt request

	pidfd    int           // the parent's pidfd (-1: none, pidfdErr says why)
	pidfdErr syscall.Errno // pidfd_open's errno
}

// beat advances the heartbeat after each answered getpid in LKL.
func (s *server) beat() {
	for {
		if _, _, e := s.k.Syscall(unix.SYS_GETPID, 0, 0, 0, 0, 0, 0); e != 0 {
			return // halted
		}
		atomic.AddUint64(&s.ch.head.beats, 1)
		time.Sleep(heartbeat)
	}
}

// worker serves slot i. The parent hands out slots lowest first (a slot
// is used only once every lower one has been), so each worker starts the
// next one when its slot is first used.
func (s *server) worker(i int) {
	sl := s.ch.slot(i)
	var last uint32 // a fresh channel's; the first request may be there already
	started := false
	budget := int32(spinYields)
	for {
		seq := await(s.h, &sl.req, last, &sl.childSleeping, &budget)
		last = seq
		if !started && i+1 < Slots {
			started = true
			go s.worker(i + 1)
		}
		trap := uintptr(sl.trap)
		if trap == ctlHalt {
			s.halt <- i
			return
		}
		var a [6]uintptr
		for j := range a {
			a[j] = uintptr(sl.args[j])
		}
		var (
			r1, r2 uintptr
			e      syscall.Errno
		)
		switch {
		case trap == ctlHostCopy:
			r1, r2, e = s.hostCopy(a, sl)
		case trap == ctlProbe && probeHook != nil:
			r1, r2, e = probeHook(a)
		case trap == ctlDisk:
			r1, e = s.disk(a)
		case trap == ctlBatch:
			e = s.batch(a[0], a[1])
		case trap == ctlExport:
			e = s.export(a)
		case trap >= ctlHalt:
			e = syscall.ENOSYS
		default:
			r1, r2, e = s.one(trap, a)
		}
		sl.r1, sl.r2, sl.errno = uint64(r1), uint64(r2), uint64(e)
		publish(s.h, &sl.resp, seq, &sl.parentSleeping)
	}
}
