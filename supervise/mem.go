package supervise

import (
	"bytes"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/sys/host"
)

// The child's memory, read and written with process_vm_readv and
// process_vm_writev on the host: the supervisor never dereferences a
// child's pointer itself, so a wild one is EFAULT, never a crash.

// readMem copies len(b) bytes at addr in process pid into b; a short
// read is EFAULT.
func readMem(pid int, addr uintptr, b []byte) sys.Errno {
	return moveMem(unix.SYS_PROCESS_VM_READV, pid, addr, b)
}

// writeMem copies b to addr in process pid; a short write is EFAULT.
func writeMem(pid int, addr uintptr, b []byte) sys.Errno {
	return moveMem(unix.SYS_PROCESS_VM_WRITEV, pid, addr, b)
}

func moveMem(trap uintptr, pid int, addr uintptr, b []byte) sys.Errno {
	if len(b) == 0 {
		return 0
	}
	if addr < 4096 {
		return syscall.EFAULT
	}
	n, e := host.MoveMem(sys.Host(), trap == unix.SYS_PROCESS_VM_WRITEV, pid, addr, b)
	switch {
	case e == syscall.ESRCH || e == syscall.EPERM:
		return e
	case e != 0 || n != len(b):
		return syscall.EFAULT
	}
	return 0
}

// readPath reads the NUL-terminated path at addr in process pid, a page
// at most at a time so that a path ending just before unmapped memory is
// read: EFAULT for a bad pointer, ENAMETOOLONG past PATH_MAX.
func readPath(pid int, addr uintptr) (string, sys.Errno) {
	const page = 4096
	var path []byte
	for len(path) < unix.PathMax {
		n := page - int((addr+uintptr(len(path)))%page)
		buf := make([]byte, n)
		if e := readMem(pid, addr+uintptr(len(path)), buf); e != 0 {
			return "", e
		}
		if i := bytes.IndexByte(buf, 0); i >= 0 {
			return string(append(path, buf[:i]...)), 0
		}
		path = append(path, buf...)
	}
	return "", syscall.ENAMETOOLONG
}
