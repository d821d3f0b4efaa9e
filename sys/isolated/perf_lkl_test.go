//go:build lkl

package isolated_test

import (
	"testing"
	"unsafe"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/sys"
)

// TestFstatInChild: fstat, which the child answers into a struct of its
// own (bounce_lkl.go), gives what newfstatat, which goes through
// lkl.Process's conversion, gives for the same file, and its errors are
// the kernel's: EBADF for a bad fd, EFAULT for a nil or unmapped buffer.
func TestFstatInChild(t *testing.T) {
	defer goleak.VerifyNone(t)
	k := start(t, nil)
	p, _ := unix.BytePtrFromString("/fstat-in-child")
	fd, _, e := sys.SyscallOn(k, unix.SYS_OPEN, uintptr(unsafe.Pointer(p)), unix.O_CREAT|unix.O_RDWR|unix.O_TRUNC, 0o640, 0, 0, 0)
	if e != 0 {
		t.Fatalf("open: %v", e)
	}
	data := make([]byte, 5000)
	if n, _, e := sys.SyscallOn(k, unix.SYS_WRITE, fd, uintptr(unsafe.Pointer(&data[0])), uintptr(len(data)), 0, 0, 0); e != 0 || n != uintptr(len(data)) {
		t.Fatalf("write: %d, %v", n, e)
	}
	var got, want unix.Stat_t
	if _, _, e := sys.SyscallOn(k, unix.SYS_FSTAT, fd, uintptr(unsafe.Pointer(&got)), 0, 0, 0, 0); e != 0 {
		t.Fatalf("fstat: %v", e)
	}
	if _, _, e := sys.SyscallOn(k, unix.SYS_NEWFSTATAT, atFDCWD, uintptr(unsafe.Pointer(p)), uintptr(unsafe.Pointer(&want)), 0, 0, 0); e != 0 {
		t.Fatalf("newfstatat: %v", e)
	}
	if got != want {
		t.Fatalf("fstat = %+v\nnewfstatat = %+v", got, want)
	}
	if got.Size != 5000 || got.Mode != unix.S_IFREG|0o640 || got.Nlink != 1 {
		t.Fatalf("fstat: size %d, mode %o, nlink %d; want 5000, %o, 1", got.Size, got.Mode, got.Nlink, unix.S_IFREG|0o640)
	}
	for _, c := range []struct {
		name    string
		fd, buf uintptr
		want    unix.Errno
	}{
		{"bad fd", 1000, uintptr(unsafe.Pointer(&got)), unix.EBADF},
		{"nil buffer", fd, 0, unix.EFAULT},
		{"unmapped buffer", fd, 4096, unix.EFAULT},
	} {
		if _, _, e := sys.SyscallOn(k, unix.SYS_FSTAT, c.fd, c.buf, 0, 0, 0, 0); e != c.want {
			t.Errorf("fstat with a %s: %v, want %v", c.name, e, c.want)
		}
	}
	if err := k.Halt(); err != nil { // before goleak looks
		t.Fatal(err)
	}
}

// atFDCWD is AT_FDCWD as a system call word.
var atFDCWD = func() uintptr { v := unix.AT_FDCWD; return uintptr(v) }()
