package sys

import (
	"sync/atomic"
	"syscall"

	"github.com/gokernel/gokernel/sys/host"
)

// Errno is the error a kernel returns: a Linux errno number. It is
// syscall.Errno itself, so errors.Is maps ENOENT to fs.ErrNotExist, ENOSYS to
// errors.ErrUnsupported and so on. Zero means success.
type Errno = syscall.Errno

// A Kernel answers system calls. Numbers, flags and struct layouts are those
// of the host architecture's Linux ABI (golang.org/x/sys/unix); a kernel whose
// own ABI differs translates them. A number the kernel cannot serve returns
// ENOSYS. Implementations must be safe for concurrent use.
//
// Pointer arguments arrive as uintptr. Call a Kernel through [Syscall] or
// [SyscallOn], which keep the memory they point to alive and in place; calling
// the method directly with uintptr(unsafe.Pointer(p)) arguments gives no such
// guarantee.
type Kernel interface {
	// Name is the kernel's name in the registry, e.g. "host" or "lkl".
	Name() string
	// Syscall makes system call trap with up to six arguments and returns
	// the kernel's two result registers and its errno (0 on success).
	Syscall(trap, a1, a2, a3, a4, a5, a6 uintptr) (r1, r2 uintptr, err Errno)
}

// A HostKernel is a kernel that can say whether it is the host's (the
// optional capability interface of a Kernel; see the package doc's
// binding rule). The host kernel says true; wrappers (Tracer, Injector)
// ask the kernel they wrap; a kernel without the method is not the host.
type HostKernel interface {
	Kernel
	// IsHost reports whether the kernel's fds are the process's own (an
	// os.File's Fd means the same file to it) and its calls are plain
	// system calls, with no CPU of its own to hand between threads.
	IsHost() bool
}

// IsHost reports whether k is the host kernel, as k says (HostKernel);
// code above sys asks this instead of comparing names.
func IsHost(k Kernel) bool {
	h, ok := k.(HostKernel)
	return ok && h.IsHost()
}

// Host returns the host kernel: the Linux kernel this process runs on.
func Host() Kernel { return host.Kernel{} }

// defaultKernel holds the process default once it has been chosen; nil before.
// It is the only mutable state of the package.
var defaultKernel atomic.Pointer[kernelBox]

// kernelBox holds the default kernel. isHost lets Syscall call the host
// kernel directly, without the interface call: this is the hot path of
// every program that runs on the host.
type kernelBox struct {
	k      Kernel
	isHost bool
}

func newBox(k Kernel) *kernelBox {
	_, isHost := k.(host.Kernel)
	return &kernelBox{k: k, isHost: isHost}
}

// Syscall makes a system call on the process default kernel (see [Default]).
//
// The //go:uintptrescapes directive makes the compiler treat every
// uintptr(unsafe.Pointer(p)) written in a call to Syscall as a live, escaping
// pointer: the object is moved to the heap (so a stack copy cannot move it)
// and kept alive until Syscall returns (so the GC cannot free it). The
// interface call inside gets no such protection on its own; this function is
// where the guarantee is made, once, for every kernel.
//
//go:uintptrescapes
func Syscall(trap, a1, a2, a3, a4, a5, a6 uintptr) (r1, r2 uintptr, err Errno) {
	b := defaultKernel.Load()
	if b == nil {
		b = initDefault()
	}
	if b.isHost {
		return host.Kernel{}.Syscall(trap, a1, a2, a3, a4, a5, a6)
	}
	return b.k.Syscall(trap, a1, a2, a3, a4, a5, a6)
}

// SyscallOn makes a system call on kernel k. Layers that are given an
// explicit kernel call it instead of k.Syscall, for the same reason as
// [Syscall]: //go:uintptrescapes keeps pointer arguments alive and unmoved
// for the duration of the call.
//
//go:uintptrescapes
func SyscallOn(k Kernel, trap, a1, a2, a3, a4, a5, a6 uintptr) (r1, r2 uintptr, err Errno) {
	if _, ok := k.(host.Kernel); ok {
		return host.Kernel{}.Syscall(trap, a1, a2, a3, a4, a5, a6) // direct: no interface call
	}
	return k.Syscall(trap, a1, a2, a3, a4, a5, a6)
}
