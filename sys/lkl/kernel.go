//go:build lkl

package lkl

/*
#cgo CFLAGS: -O2
#cgo LDFLAGS: -llkl -lpthread -lrt -Wl,-z,noexecstack
#include <stdlib.h>
#include "gk.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// Kernel states. A kernel only moves forward through them.
const (
	stateRunning int32 = iota
	stateHalting       // new calls are refused; in-flight ones drain
	stateHalted        // LKL has stopped
)

// ErrHalted is the errno a call gets once the kernel is halting or halted.
const ErrHalted = syscall.ESHUTDOWN

// A Kernel is the running LKL kernel. It implements sys.Kernel; pass it to
// sys.SyscallOn (or make it the default with GOKERNEL=lkl). Its methods are
// safe for concurrent use.
type Kernel struct {
	cfg Config

	state atomic.Int32
	// inflight counts calls inside LKL that may sleep there. Halt waits for
	// it to reach zero, because LKL frees the semaphores such a call sleeps
	// on.
	inflight atomic.Int64

	console consoleFDs

	// netdevs are set before boot and only read after; forwards are set
	// before Boot returns.
	netdevs  []*netdev
	forwards []net.Addr

	mu     sync.Mutex // guards disks and halt
	disks  []*attached
	halted error // result of the first Halt
	done   bool  // Halt has run
}

var (
	bootMu sync.Mutex
	booted *Kernel // the process's one LKL kernel, once booted
)

// Running returns the kernel booted in this process, or nil.
func Running() *Kernel {
	bootMu.Lock()
	defer bootMu.Unlock()
	return booted
}

// Boot starts LKL with cfg (nil means the zero Config): it attaches the
// disks, boots, mounts them, applies the sysctls and wires LKL's fds 0, 1
// and 2 to the process's stdin, stdout and stderr. Boot runs once per
// process; a second call is an error, even after Halt.
//
// If anything after the kernel started fails, Boot halts it again (the
// disks are unmounted and flushed) and returns the error.
func Boot(cfg *Config) (*Kernel, error) {
	if cfg == nil {
		cfg = &Config{}
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	mem, _ := cfg.MemoryBytes()

	bootMu.Lock()
	defer bootMu.Unlock()
	if booted != nil {
		return nil, errors.New("lkl: a kernel was already booted in this process (LKL runs once per process; use lkl.Running)")
	}
	k := &Kernel{cfg: *cfg}

	// Disks are opened before boot so a missing image fails fast, and
	// added before boot so the kernel probes them while it starts.
	for i, d := range cfg.Disks {
		a, err := openDisk(d, cfg.ioTimeout())
		if err != nil {
			k.closeDisks()
			return nil, fmt.Errorf("lkl config: disks[%d]: %w", i, err)
		}
		k.disks = append(k.disks, a)
	}
	for _, a := range k.disks {
		if err := a.add(); err != nil {
			k.closeDisks()
			return nil, err
		}
	}
	// Network devices are added before boot too; a user network starts
	// here, a TAP device is opened here.
	if err := k.addNetdevs(); err != nil {
		k.freeNetdevs()
		k.closeDisks()
		return nil, err
	}

	cmdline := C.CString(cfg.BootCmdline)
	defer C.free(unsafe.Pointer(cmdline))
	debug := C.int(0)
	if cfg.DebugLevel() != 0 {
		debug = 1
	}
	if rc := C.gk_start(C.ulong(mem), cmdline, debug); rc < 0 {
		k.freeNetdevs()
		k.closeDisks()
		return nil, fmt.Errorf("lkl: boot: %w", syscall.Errno(-rc))
	}
	booted = k
	if err := k.setup(); err != nil {
		if herr := k.Halt(); herr != nil {
			err = errors.Join(err, herr)
		}
		return nil, err
	}
	return k, nil
}

// setup prepares the booted kernel as Config asks.
func (k *Kernel) setup() error {
	// LKL's wall clock starts at the host's monotonic time (1970 plus the
	// host's uptime), so every inode it created or changed had a 1970
	// ctime. Set it to the host's time first, before any mount writes a
	// superblock's mount time.
	if err := k.setClock(); err != nil {
		return err
	}
	if err := k.console.wire(k); err != nil {
		return fmt.Errorf("lkl: console: %w", err)
	}
	// LKL boots with lo down; lkl-hijack brings it up, and so do we, so
	// 127.0.0.1 and ::1 work from the start.
	if rc := C.gk_if_up(1); rc < 0 {
		return fmt.Errorf("lkl: bringing up lo: %w", syscall.Errno(-rc))
	}
	for i, a := range k.disks {
		if a.disk.MountPoint == "" {
			continue
		}
		if err := k.mount(a); err != nil {
			return fmt.Errorf("lkl config: disks[%d]: %w", i, err)
		}
	}
	for _, m := range k.cfg.MountList() {
		if err := k.mountPseudo(m); err != nil {
			return fmt.Errorf("lkl config: mount %s: %w", m, err)
		}
	}
	if err := k.applySysctls(); err != nil {
		return err
	}
	if err := k.setupNetdevs(); err != nil {
		return err
	}
	if k.cfg.Nameserver != "" {
		if err := k.writeFile("/etc/resolv.conf", []byte("nameserver "+k.cfg.Nameserver+"\n")); err != nil {
			return fmt.Errorf("lkl config: nameserver: %w", err)
		}
	}
	if us, _ := parseNumber(k.cfg.DelayMain); us > 0 {
		time.Sleep(time.Duration(us) * time.Microsecond)
	}
	return nil
}

// setClock sets LKL's CLOCK_REALTIME to the host's. From then on LKL's
// clock advances with the host's monotonic clock, so a later step of the
// host's wall clock (NTP) is not followed.
func (k *Kernel) setClock() error {
	now := time.Now()
	ts := lklTimespec{Sec: now.Unix(), Nsec: int64(now.Nanosecond())}
	if _, e := k.internal(lklSYS_CLOCK_SETTIME, 0 /* CLOCK_REALTIME */, uintptr(unsafe.Pointer(&ts)), 0, 0, 0, 0); e != 0 {
		return fmt.Errorf("lkl: setting the clock: %w", e)
	}
	return nil
}

// Name returns "lkl".
func (k *Kernel) Name() string { return "lkl" }

// Config returns the configuration the kernel booted with.
func (k *Kernel) Config() Config { return k.cfg }

// Syscall answers a host-ABI system call (see the package doc for the
// translation). Once the kernel is halting it returns ErrHalted.
func (k *Kernel) Syscall(trap, a1, a2, a3, a4, a5, a6 uintptr) (r1, r2 uintptr, err syscall.Errno) {
	if trap < uintptr(len(table)) && table[trap].noSleep {
		// Not counted: LKL's own CPU gate refuses such a call cleanly if a
		// halt overtakes it. The cgo call is made right here, because
		// this is the path BenchmarkGetpid measures.
		if k.state.Load() != stateRunning {
			return failed(ErrHalted)
		}
		r := C.gk_syscall(C.long(table[trap].nr), C.long(a1), C.long(a2), C.long(a3), C.long(a4), C.long(a5), C.long(a6))
		return k.result(int64(r))
	}
	return caller{k: k}.syscall(trap, a1, a2, a3, a4, a5, a6)
}

// A caller is whom a system call is made for: the kernel that answers it,
// and the host process whose memory its pointer arguments are addresses
// in. The rewrites (rewrite.go, console.go) take one, so that the same
// translation serves this process (Kernel.Syscall) and another
// (Process.Syscall, LKL fix 16); what they read or write themselves goes
// through read and write (remote.go).
type caller struct {
	k   *Kernel
	pid int // 0: this process; else the host process of a Process
}

// syscall answers host-ABI call trap for c: through a rewrite, or as the
// LKL call of the same name.
func (c caller) syscall(trap, a1, a2, a3, a4, a5, a6 uintptr) (uintptr, uintptr, syscall.Errno) {
	if c.k.state.Load() != stateRunning {
		return failed(ErrHalted)
	}
	if trap >= uintptr(len(table)) {
		return failed(syscall.ENOSYS)
	}
	e := &table[trap]
	switch {
	case e.rw != nil:
		return e.rw(c, a1, a2, a3, a4, a5, a6)
	case e.nr < 0:
		return failed(syscall.ENOSYS)
	}
	return c.call(int(e.nr), a1, a2, a3, a4, a5, a6)
}

// call makes LKL system call nr (an LKL number) for c, counting it as in
// flight. Callers inside this package pass pointers to their own buffers
// (only for c.pid == 0, whose pointers are this process's);
// //go:uintptrescapes keeps those alive and unmoved, as in sys.Syscall.
//
//go:uintptrescapes
func (c caller) call(nr int, a1, a2, a3, a4, a5, a6 uintptr) (uintptr, uintptr, syscall.Errno) {
	k := c.k
	k.inflight.Add(1)
	if k.state.Load() != stateRunning {
		k.inflight.Add(-1)
		return failed(ErrHalted)
	}
	var r C.long
	if c.pid == 0 {
		r = C.gk_syscall(C.long(nr), C.long(a1), C.long(a2), C.long(a3), C.long(a4), C.long(a5), C.long(a6))
	} else {
		r = C.gk_syscall_remote(C.int(c.pid), C.long(nr), C.long(a1), C.long(a2), C.long(a3), C.long(a4), C.long(a5), C.long(a6))
	}
	k.inflight.Add(-1)
	return k.result(int64(r))
}

// result turns lkl_syscall's return value (negative errno on failure) into
// the sys.Syscall results. A failure during a halt is reported as
// ErrHalted: LKL's CPU gate returns small negative numbers then, which
// would otherwise read as EPERM or ENOENT.
func (k *Kernel) result(r int64) (uintptr, uintptr, syscall.Errno) {
	if r < 0 && r > -4096 {
		if k.state.Load() != stateRunning {
			return failed(ErrHalted)
		}
		return failed(syscall.Errno(-r))
	}
	return uintptr(r), 0, 0
}

// internal makes an LKL call for the kernel's own housekeeping (mounts,
// console, halt), which must work while the kernel is halting. Pointer
// arguments are kept alive and unmoved by //go:uintptrescapes, as in
// sys.Syscall.
//
//go:uintptrescapes
func (k *Kernel) internal(nr int, a1, a2, a3, a4, a5, a6 uintptr) (uintptr, syscall.Errno) {
	r := int64(C.gk_syscall(C.long(nr), C.long(a1), C.long(a2), C.long(a3), C.long(a4), C.long(a5), C.long(a6)))
	if r < 0 && r > -4096 {
		return ^uintptr(0), syscall.Errno(-r)
	}
	return uintptr(r), 0
}

func failed(e syscall.Errno) (uintptr, uintptr, syscall.Errno) { return ^uintptr(0), 0, e }
