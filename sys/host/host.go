package host

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// Kernel is the host Linux kernel. Its zero value is ready to use, and all
// values are the same kernel.
//
// Numbers, flags and layouts need no translation: the contract at sys.Syscall
// is the host's own ABI.
type Kernel struct{}

// Name returns "host".
func (Kernel) Name() string { return "host" }

// Syscall makes the system call on the host kernel. It always goes through
// the runtime's blocking path (entersyscall), so a call that blocks, such as
// read on an empty pipe, parks only its own thread.
func (Kernel) Syscall(trap, a1, a2, a3, a4, a5, a6 uintptr) (r1, r2 uintptr, err syscall.Errno) {
	return unix.Syscall6(trap, a1, a2, a3, a4, a5, a6)
}

// IsHost reports true: this is the host kernel (sys.HostKernel).
func (Kernel) IsHost() bool { return true }
