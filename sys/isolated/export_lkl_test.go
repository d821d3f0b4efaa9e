//go:build lkl

package isolated

import (
	"net/netip"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Probe asks the child to try what the sandbox must deny (see probe).
func (k *Kernel) Probe(what, arg, addr uintptr) syscall.Errno {
	_, _, e := k.call(ctlProbe, [6]uintptr{what, arg, addr})
	return e
}

// What Probe tries in the child.
const (
	ProbeOpen       = iota + 1 // open /etc/hostname on the host
	ProbeExec                  // execve /bin/true
	ProbeConnect               // connect to 127.0.0.1:arg on the host
	ProbeReadOther             // process_vm_readv of process arg at addr
	ProbeReadParent            // process_vm_readv of the parent at addr (allowed)
	ProbeSpin                  // spin for ever inside the call, as LKL's btrfs does on some hostile images
)

// Set in the test binary's variable initialization, so before the init
// hook that makes a child of it serve.
var _ = func() bool { probeHook = probe; return true }()

// probe runs in the child; its errno is the attempt's (0: it worked).
func probe(a [6]uintptr) (uintptr, uintptr, syscall.Errno) {
	switch a[0] {
	case ProbeOpen:
		fd, err := unix.Open("/etc/hostname", unix.O_RDONLY, 0)
		if err == nil {
			unix.Close(fd)
		}
		return 0, 0, errnoOf(err)
	case ProbeExec:
		argv := []string{"/bin/true"}
		return 0, 0, errnoOf(unix.Exec(argv[0], argv, nil))
	case ProbeConnect:
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return 0, 0, errnoOf(err)
		}
		defer unix.Close(fd)
		sa := &unix.SockaddrInet4{Port: int(a[1]), Addr: netip.MustParseAddr("127.0.0.1").As4()}
		return 0, 0, errnoOf(unix.Connect(fd, sa))
	case ProbeSpin:
		for n := uint64(0); ; n++ {
			spun.Store(n)
		}
	case ProbeReadOther, ProbeReadParent:
		pid := int(a[1])
		if a[0] == ProbeReadParent {
			pid = unix.Getppid()
		}
		var word uint64
		local := []unix.Iovec{{Base: (*byte)(unsafe.Pointer(&word)), Len: 8}}
		remote := []unix.RemoteIovec{{Base: uintptr(a[2]), Len: 8}}
		_, err := unix.ProcessVMReadv(pid, local, remote, 0)
		return 0, 0, errnoOf(err)
	}
	return 0, 0, syscall.EINVAL
}

// spun keeps ProbeSpin's loop from being optimized away.
var spun atomic.Uint64

func errnoOf(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	if e, ok := err.(syscall.Errno); ok {
		return e
	}
	return syscall.EIO
}
