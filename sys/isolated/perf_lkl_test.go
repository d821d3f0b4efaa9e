//go:build lkl

package isolated_test

import (
	"bytes"
	"syscall"
	"testing"
	"unsafe"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/sys/isolated"
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
	fd := createFile(t, k, "/bounced", data)
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

// TestBatch: a batch runs its calls in order in one round trip, with an
// earlier call's result as a later one's argument; after a failure the
// rest are cancelled except those marked Always; a bad batch is an error
// of its own and runs nothing.
func TestBatch(t *testing.T) {
	defer goleak.VerifyNone(t)
	k := start(t, nil)
	path, _ := unix.BytePtrFromString("/batched")
	data := []byte("one round trip")
	got := make([]byte, 64)
	var st unix.Stat_t
	calls := []isolated.Call{
		{Trap: unix.SYS_OPEN, Args: [6]uintptr{uintptr(unsafe.Pointer(path)), unix.O_CREAT | unix.O_RDWR, 0o600}},
		{Trap: unix.SYS_WRITE, Args: [6]uintptr{1: uintptr(unsafe.Pointer(&data[0])), 2: uintptr(len(data))}, From: [6]uint8{1}},
		{Trap: unix.SYS_FSTAT, Args: [6]uintptr{1: uintptr(unsafe.Pointer(&st))}, From: [6]uint8{1}},
		{Trap: unix.SYS_PREAD64, Args: [6]uintptr{1: uintptr(unsafe.Pointer(&got[0])), 2: uintptr(len(got))}, From: [6]uint8{1}},
		{Trap: unix.SYS_CLOSE, From: [6]uint8{1}, Always: true},
	}
	if err := k.Batch(calls); err != nil {
		t.Fatal(err)
	}
	for i, c := range calls {
		if c.Errno != 0 {
			t.Fatalf("call %d: %v", i, c.Errno)
		}
	}
	if n := calls[3].R1; string(got[:n]) != string(data) || st.Size != int64(len(data)) || calls[1].R1 != uintptr(len(data)) {
		t.Fatalf("read back %q, size %d, wrote %d; want %q", got[:n], st.Size, calls[1].R1, data)
	}

	// A failed open: what takes its fd is cancelled, Always or not; a
	// call marked Always that needs no result of it runs.
	missing, _ := unix.BytePtrFromString("/missing")
	calls = []isolated.Call{
		{Trap: unix.SYS_OPEN, Args: [6]uintptr{uintptr(unsafe.Pointer(missing)), unix.O_RDONLY}},
		{Trap: unix.SYS_FSTAT, Args: [6]uintptr{1: uintptr(unsafe.Pointer(&st))}, From: [6]uint8{1}},
		{Trap: unix.SYS_CLOSE, From: [6]uint8{1}, Always: true},
		{Trap: unix.SYS_GETPID},
		{Trap: unix.SYS_GETPID, Always: true},
	}
	if err := k.Batch(calls); err != nil {
		t.Fatal(err)
	}
	want := []syscall.Errno{unix.ENOENT, unix.ECANCELED, unix.ECANCELED, unix.ECANCELED, 0}
	for i, c := range calls {
		if c.Errno != want[i] {
			t.Errorf("call %d: %v, want %v", i, c.Errno, want[i])
		}
	}
	if calls[4].R1 != 1 {
		t.Errorf("getpid in LKL: %d, want 1", calls[4].R1)
	}

	for name, bad := range map[string][]isolated.Call{
		"a later result": {{Trap: unix.SYS_CLOSE, From: [6]uint8{2}}, {Trap: unix.SYS_GETPID}},
		"its own result": {{Trap: unix.SYS_CLOSE, From: [6]uint8{1}}},
		"too many calls": make([]isolated.Call, isolated.MaxBatch+1),
		"no system call": {{Trap: 1 << 40}},
	} {
		if err := k.Batch(bad); err == nil {
			t.Errorf("a batch with %s: no error", name)
		}
	}
	if err := k.Halt(); err != nil { // before goleak looks
		t.Fatal(err)
	}
	if err := k.Batch([]isolated.Call{{Trap: unix.SYS_GETPID}}); err == nil {
		t.Error("a batch after the halt: no error")
	}
}
