//go:build lkl

package isolated_test

import (
	"bytes"
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

// TestReadBounced: large reads, which the child serves through buffers of
// its own (bounce_lkl.go), give the file's bytes at any offset and
// length, and a read into a buffer whose end is not mapped gives what fit
// before the hole, with the file offset right after those bytes, as
// Linux's would.
func TestReadBounced(t *testing.T) {
	defer goleak.VerifyNone(t)
	k := start(t, nil)
	const size = 3<<20 + 5
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i*13 + i>>16)
	}
	p, _ := unix.BytePtrFromString("/bounced")
	fd, _, e := sys.SyscallOn(k, unix.SYS_OPEN, uintptr(unsafe.Pointer(p)), unix.O_CREAT|unix.O_RDWR|unix.O_TRUNC, 0o644, 0, 0, 0)
	if e != 0 {
		t.Fatalf("open: %v", e)
	}
	if n, _, e := sys.SyscallOn(k, unix.SYS_WRITE, fd, uintptr(unsafe.Pointer(&data[0])), size, 0, 0, 0); e != 0 || n != size {
		t.Fatalf("write: %d, %v", n, e)
	}
	for _, c := range []struct{ off, n int }{{0, size}, {1, 1 << 20}, {100, 600 << 10}, {size - 300<<10, 1 << 20}} {
		got := make([]byte, c.n)
		n, _, e := sys.SyscallOn(k, unix.SYS_PREAD64, fd, uintptr(unsafe.Pointer(&got[0])), uintptr(c.n), uintptr(c.off), 0, 0)
		want := data[c.off:min(c.off+c.n, size)]
		if e != 0 || !bytes.Equal(got[:n], want) {
			t.Fatalf("pread %d at %d: %d bytes, %v (want %d, or wrong bytes)", c.n, c.off, n, e, len(want))
		}
	}
	// 640 KiB mapped, then a hole: read(2) from offset 1000 fills what is
	// mapped and leaves the offset after it.
	const mapped = 640 << 10
	region, err := unix.Mmap(-1, 0, mapped+256<<10, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(region)
	// The tail unmapped by hand (unix.Munmap takes whole mappings only);
	// the deferred Munmap unmaps the rest (and the hole, harmlessly).
	if _, _, e := unix.Syscall(unix.SYS_MUNMAP, uintptr(unsafe.Pointer(&region[mapped])), 256<<10, 0); e != 0 {
		t.Fatal(e)
	}
	if _, _, e := sys.SyscallOn(k, unix.SYS_LSEEK, fd, 1000, 0, 0, 0, 0); e != 0 {
		t.Fatalf("lseek: %v", e)
	}
	n, _, e := sys.SyscallOn(k, unix.SYS_READ, fd, uintptr(unsafe.Pointer(&region[0])), 1<<20, 0, 0, 0)
	if e != 0 || n != mapped || !bytes.Equal(region[:mapped], data[1000:1000+mapped]) {
		t.Fatalf("read into %d mapped bytes of 1 MiB: %d, %v (or wrong bytes)", mapped, n, e)
	}
	if pos, _, e := sys.SyscallOn(k, unix.SYS_LSEEK, fd, 0, unix.SEEK_CUR, 0, 0, 0); e != 0 || pos != 1000+mapped {
		t.Fatalf("offset after the short read: %d, %v; want %d", pos, e, 1000+mapped)
	}
	sys.SyscallOn(k, unix.SYS_CLOSE, fd, 0, 0, 0, 0, 0)
	if err := k.Halt(); err != nil { // before goleak looks
		t.Fatal(err)
	}
}
