//go:build lkl

package lkl

/*
#include "gk.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/sys/host"
)

// ErrNoRemote is what ForProcess returns when LKL was built without
// third_party/lkl's fix 16 (CONFIG_GOKERNEL_REMOTE_USER).
var ErrNoRemote = errors.New("lkl: LKL was built without LKL fix 16 (CONFIG_GOKERNEL_REMOTE_USER): no system calls for another process")

// A Process is the kernel as one host process sees it: a sys.Kernel whose
// system calls run in LKL with their pointer arguments addresses in that
// process's memory, not this one's. Made by Kernel.ForProcess; safe for
// concurrent use.
//
// LKL reads and writes the process's memory itself, in every user access
// of the call (paths, buffers, iovecs, msghdrs, ioctl arguments and the
// pointers nested in them), with process_vm_readv and process_vm_writev
// (third_party/lkl fix 16); the host ABI translation is Kernel.Syscall's,
// with what it converts (struct stat, poll's timeout, the console) read
// and written in that process too. Memory the process has not mapped is
// EFAULT; a process that has exited, or that this one may not trace
// (ptrace access mode, Yama's ptrace_scope), makes a call that needs its
// memory fail with ESRCH or EPERM. The fds are the kernel's: a Process and
// the Kernel share one fd table.
type Process struct {
	c caller
}

// ForProcess returns the kernel for host process pid (see Process). The
// process must exist; it need not be a child. It is an error if LKL was
// built without fix 16 (ErrNoRemote) or the kernel is halting.
func (k *Kernel) ForProcess(pid int) (*Process, error) {
	if C.GK_HAVE_REMOTE == 0 {
		return nil, ErrNoRemote
	}
	if pid <= 0 {
		return nil, fmt.Errorf("lkl: ForProcess(%d): not a process id", pid)
	}
	if k.state.Load() != stateRunning {
		return nil, fmt.Errorf("lkl: ForProcess(%d): %w", pid, ErrHalted)
	}
	// kill(pid, 0) says whether the process exists (EPERM: it does, but
	// belongs to another user; process_vm_* decides on access per call).
	if _, _, e := host.Call(k.cfg.Host, unix.SYS_KILL, uintptr(pid), 0, 0, 0, 0, 0); e == syscall.ESRCH {
		return nil, fmt.Errorf("lkl: ForProcess(%d): %w", pid, e)
	}
	return &Process{c: caller{k: k, pid: pid}}, nil
}

// Name returns "lkl".
func (p *Process) Name() string { return "lkl" }

// Pid returns the host process the calls are made for.
func (p *Process) Pid() int { return p.c.pid }

// Kernel returns the kernel that answers the calls.
func (p *Process) Kernel() *Kernel { return p.c.k }

// Syscall answers a host-ABI system call as Kernel.Syscall does, with
// pointer arguments in the process's memory. Once the kernel is halting it
// returns ErrHalted.
func (p *Process) Syscall(trap, a1, a2, a3, a4, a5, a6 uintptr) (r1, r2 uintptr, err syscall.Errno) {
	return p.c.syscall(trap, a1, a2, a3, a4, a5, a6)
}

// read copies len(dst) bytes at address addr of c's memory into dst.
func (c caller) read(addr uintptr, dst []byte) syscall.Errno {
	return c.move(unix.SYS_PROCESS_VM_READV, addr, dst)
}

// write copies src to address addr of c's memory.
func (c caller) write(addr uintptr, src []byte) syscall.Errno {
	return c.move(unix.SYS_PROCESS_VM_WRITEV, addr, src)
}

// move is read (process_vm_readv) or write (process_vm_writev). In this
// process it copies, with LKL's rule for a user pointer into the first page
// (EFAULT, third_party/lkl fix 10); in another it makes the host call
// through the kernel's Config.Host, and a short transfer is EFAULT.
func (c caller) move(trap, addr uintptr, b []byte) syscall.Errno {
	if len(b) == 0 {
		return 0
	}
	if c.pid == 0 {
		if addr < 4096 {
			return syscall.EFAULT
		}
		mem := unsafe.Slice((*byte)(hostPtr(addr)), len(b))
		if trap == unix.SYS_PROCESS_VM_READV {
			copy(b, mem)
		} else {
			copy(mem, b)
		}
		return 0
	}
	n, e := host.MoveMem(c.k.cfg.Host, trap == unix.SYS_PROCESS_VM_WRITEV, c.pid, addr, b)
	switch {
	case e != 0:
		return e
	case n != len(b):
		return syscall.EFAULT
	}
	return 0
}
