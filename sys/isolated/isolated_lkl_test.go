//go:build lkl

package isolated_test

import (
	"bytes"
	"errors"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/disk"
	"github.com/gokernel/gokernel/internal/imagetest"
	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/sys/isolated"
	"github.com/gokernel/gokernel/sys/lkl"
)

// kernelLine is a kernel message on LKL's console.
var kernelLine = regexp.MustCompile(`(?m)^\[ *[0-9]+\.[0-9]{6}\] `)

func start(t *testing.T, cfg *lkl.Config) *isolated.Kernel {
	t.Helper()
	k, err := isolated.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Halt() })
	return k
}

// TestCalls boots an isolated kernel and makes calls without and with
// pointers, from more goroutines than there are slots, then halts it.
func TestCalls(t *testing.T) {
	defer goleak.VerifyNone(t)
	k := start(t, nil)
	if pid, _, e := sys.SyscallOn(k, unix.SYS_GETPID, 0, 0, 0, 0, 0, 0); e != 0 || pid != 1 {
		t.Fatalf("getpid = %d, %v; want LKL's 1", pid, e)
	}
	if k.Pid() == os.Getpid() {
		t.Fatal("the kernel runs in this process")
	}
	fd, _, e := sys.SyscallOn(k, unix.SYS_DUP, 1, 0, 0, 0, 0, 0)
	if e != 0 {
		t.Fatalf("dup: %v", e)
	}
	if _, _, e := sys.SyscallOn(k, unix.SYS_CLOSE, fd, 0, 0, 0, 0, 0); e != 0 {
		t.Fatalf("close: %v", e)
	}
	if _, _, e := sys.SyscallOn(k, unix.SYS_CLOSE, fd, 0, 0, 0, 0, 0); e != unix.EBADF {
		t.Fatalf("second close: %v, want EBADF", e)
	}

	// Pointers in this process: a pipe in LKL, written and read back.
	var p [2]int32
	if _, _, e := sys.SyscallOn(k, unix.SYS_PIPE2, uintptr(unsafe.Pointer(&p)), unix.O_CLOEXEC, 0, 0, 0, 0); e != 0 {
		t.Fatalf("pipe2: %v", e)
	}
	msg := []byte("through the child")
	if n, _, e := sys.SyscallOn(k, unix.SYS_WRITE, uintptr(p[1]), uintptr(unsafe.Pointer(&msg[0])), uintptr(len(msg)), 0, 0, 0); e != 0 || n != uintptr(len(msg)) {
		t.Fatalf("write: %d, %v", n, e)
	}
	buf := make([]byte, 64)
	n, _, e := sys.SyscallOn(k, unix.SYS_READ, uintptr(p[0]), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0, 0, 0)
	if e != 0 || string(buf[:n]) != string(msg) {
		t.Fatalf("read: %q, %v", buf[:n], e)
	}

	// 300 goroutines: more than the 256 slots, so some wait for one.
	var wg sync.WaitGroup
	errs := make(chan error, 300)
	for range 300 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				if pid, _, e := sys.SyscallOn(k, unix.SYS_GETPID, 0, 0, 0, 0, 0, 0); e != 0 || pid != 1 {
					errs <- errors.New("getpid: " + e.Error())
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	// The halt reuses the slot of the last call, which failed: its errno
	// must not be taken for the halt's.
	if _, _, e := sys.SyscallOn(k, unix.SYS_CLOSE, 1000, 0, 0, 0, 0, 0); e != unix.EBADF {
		t.Fatalf("close(1000): %v, want EBADF", e)
	}
	if err := k.Halt(); err != nil {
		t.Fatalf("halt: %v", err)
	}
	if _, _, e := sys.SyscallOn(k, unix.SYS_GETPID, 0, 0, 0, 0, 0, 0); e != lkl.ErrHalted {
		t.Fatalf("getpid after halt: %v, want %v", e, lkl.ErrHalted)
	}
	if err := k.Halt(); err != nil {
		t.Fatalf("second halt: %v", err)
	}
}

// blockedRead starts a read of an empty LKL pipe in a goroutine; its
// errno comes on the channel when it ends.
func blockedRead(t *testing.T, k *isolated.Kernel) <-chan syscall.Errno {
	t.Helper()
	var p [2]int32
	if _, _, e := sys.SyscallOn(k, unix.SYS_PIPE2, uintptr(unsafe.Pointer(&p)), 0, 0, 0, 0, 0); e != 0 {
		t.Fatalf("pipe2: %v", e)
	}
	read := make(chan syscall.Errno, 1)
	go func() {
		b := make([]byte, 8)
		_, _, e := sys.SyscallOn(k, unix.SYS_READ, uintptr(p[0]), uintptr(unsafe.Pointer(&b[0])), 8, 0, 0, 0)
		read <- e
	}()
	return read
}

// signalUnderRead sends sig to the child while a call (a read of an empty
// LKL pipe) is blocked in it, and checks that the call ends with EIO.
func signalUnderRead(t *testing.T, k *isolated.Kernel, sig syscall.Signal) {
	t.Helper()
	read := blockedRead(t, k)
	time.Sleep(50 * time.Millisecond) // let it block in the child
	if err := syscall.Kill(k.Pid(), sig); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-read:
		if e != syscall.EIO {
			t.Fatalf("blocked read after %v: %v, want EIO", sig, e)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the blocked read never returned after %v", sig)
	}
}

// TestChildKilled kills the child under a blocked call: the call and every
// later one return EIO, and Halt reports the signal.
func TestChildKilled(t *testing.T) {
	defer goleak.VerifyNone(t)
	k := start(t, nil)
	signalUnderRead(t, k, syscall.SIGKILL)
	if _, _, e := sys.SyscallOn(k, unix.SYS_GETPID, 0, 0, 0, 0, 0, 0); e != syscall.EIO {
		t.Fatalf("getpid after the child died: %v, want EIO", e)
	}
	err := k.Halt()
	var d *isolated.DiedError
	if !errors.As(err, &d) || d.Signal != syscall.SIGKILL || !errors.Is(err, syscall.EIO) {
		t.Fatalf("halt: %v, want a DiedError for SIGKILL", err)
	}
	if !kernelLine.MatchString(d.Console) {
		t.Errorf("the DiedError's console has no kernel message: %q", d.Console)
	}
}

// TestDeadline stops the child: once its heartbeat has stood still for
// isolation_deadline, the parent kills it and the calls fail.
func TestDeadline(t *testing.T) {
	defer goleak.VerifyNone(t)
	k := start(t, &lkl.Config{IsolationDeadline: "400ms"})
	signalUnderRead(t, k, syscall.SIGSTOP)
	err := k.Halt()
	var d *isolated.DiedError
	if !errors.As(err, &d) || !strings.Contains(d.Reason, "isolation_deadline") {
		t.Fatalf("halt: %v, want a DiedError naming isolation_deadline", err)
	}
}

// TestCallDeadline: a read of an empty pipe that waits for longer than
// isolation_call_deadline is left alone (it waits by design); a call that
// spins in the child (the test hook, as LKL's btrfs loops in getdents64 on
// some hostile images, its heartbeat going on) gets the child killed once
// it has run for longer: the call, the pending read and every later call
// return EIO, Halt's DiedError names the call and the key, and this
// process keeps its fds.
func TestCallDeadline(t *testing.T) {
	defer goleak.VerifyNone(t)
	kerneltest.CheckFDs(t, sys.Host())
	const deadline = 300 * time.Millisecond
	k := start(t, &lkl.Config{IsolationCallDeadline: deadline.String()})
	read := blockedRead(t, k)
	time.Sleep(4 * deadline)
	select {
	case e := <-read:
		t.Fatalf("the read of an empty pipe returned %v", e)
	default:
	}
	if pid, _, e := sys.SyscallOn(k, unix.SYS_GETPID, 0, 0, 0, 0, 0, 0); e != 0 || pid != 1 {
		t.Fatalf("getpid with a read waiting past the deadline: %d, %v", pid, e)
	}
	began := time.Now()
	if e := k.Probe(isolated.ProbeSpin, 0, 0); e != syscall.EIO {
		t.Fatalf("a spinning call returned %v, want EIO", e)
	}
	took := time.Since(began)
	select {
	case e := <-read:
		if e != syscall.EIO {
			t.Fatalf("the pending read: %v, want EIO", e)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the pending read never returned")
	}
	if _, _, e := sys.SyscallOn(k, unix.SYS_GETPID, 0, 0, 0, 0, 0, 0); e != syscall.EIO {
		t.Fatalf("getpid after: %v, want EIO", e)
	}
	err := k.Halt()
	var d *isolated.DiedError
	if !errors.As(err, &d) || d.Deadline != "isolation_call_deadline" || d.Signal != syscall.SIGKILL ||
		!strings.Contains(d.Reason, "probe") || !strings.Contains(err.Error(), "isolation_call_deadline") {
		t.Fatalf("halt: %v, want a DiedError naming the call and isolation_call_deadline", err)
	}
	t.Logf("the spinning call returned EIO after %v (deadline %v): %v", took, deadline, err)
}

// TestBootError: a configuration the child cannot boot is Start's error,
// with the child's words.
func TestBootError(t *testing.T) {
	defer goleak.VerifyNone(t)
	_, err := isolated.Start(&lkl.Config{Disks: []lkl.Disk{{Path: "/nonexistent/disk.img", MountPoint: "/mnt"}}})
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/disk.img") {
		t.Fatalf("Start = %v, want an error naming the missing image", err)
	}
}

// fileOn reads path through k.
func fileOn(t *testing.T, k sys.Kernel, path string) (string, syscall.Errno) {
	t.Helper()
	p, _ := unix.BytePtrFromString(path)
	fd, _, e := sys.SyscallOn(k, unix.SYS_OPEN, uintptr(unsafe.Pointer(p)), unix.O_RDONLY, 0, 0, 0, 0)
	if e != 0 {
		return "", e
	}
	defer sys.SyscallOn(k, unix.SYS_CLOSE, fd, 0, 0, 0, 0, 0)
	buf := make([]byte, 4096)
	n, _, e := sys.SyscallOn(k, unix.SYS_READ, fd, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0, 0, 0)
	return string(buf[:n]), e
}

// writeOn creates path through k with content.
func writeOn(t *testing.T, k sys.Kernel, path, content string) syscall.Errno {
	t.Helper()
	p, _ := unix.BytePtrFromString(path)
	fd, _, e := sys.SyscallOn(k, unix.SYS_OPEN, uintptr(unsafe.Pointer(p)), unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC, 0o644, 0, 0, 0)
	if e != 0 {
		return e
	}
	defer sys.SyscallOn(k, unix.SYS_CLOSE, fd, 0, 0, 0, 0, 0)
	b := []byte(content)
	_, _, e = sys.SyscallOn(k, unix.SYS_WRITE, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), 0, 0, 0)
	return e
}

// TestDisk: an isolated kernel writes a file into an image, halts (the
// child flushes it), and a second one reads it back; a read-only image is
// never written, not even by a kernel that tries.
func TestDisk(t *testing.T) {
	defer goleak.VerifyNone(t)
	img := imagetest.Build(t, "ext4", imagetest.Tree{"hello.txt": "hello from the image\n"})
	k := start(t, &lkl.Config{Disks: []lkl.Disk{{Path: img, MountPoint: "/mnt/d"}}})
	if got, e := fileOn(t, k, "/mnt/d/hello.txt"); e != 0 || got != "hello from the image\n" {
		t.Fatalf("read: %q, %v", got, e)
	}
	if e := writeOn(t, k, "/mnt/d/new.txt", "written in the child\n"); e != 0 {
		t.Fatalf("write: %v", e)
	}
	bigData(t, k, "/mnt/d/big.bin")
	if err := k.Halt(); err != nil {
		t.Fatal(err)
	}

	before, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	k = start(t, &lkl.Config{Disks: []lkl.Disk{{Path: img, ReadOnly: true, MountPoint: "/mnt/d"}}})
	if got, e := fileOn(t, k, "/mnt/d/new.txt"); e != 0 || got != "written in the child\n" {
		t.Fatalf("read back: %q, %v", got, e)
	}
	if e := writeOn(t, k, "/mnt/d/other.txt", "x"); e != unix.EROFS {
		t.Fatalf("write to a read-only image: %v, want EROFS", e)
	}
	if err := k.Halt(); err != nil {
		t.Fatal(err)
	}
	after, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Fatal("a read-only image was written")
	}
}

// TestSandbox tries, from inside the child (a test-only hook), what a
// hostile image that took over LKL would try first: each is denied, while
// reading the parent's memory, which every call needs, still works.
func TestSandbox(t *testing.T) {
	defer goleak.VerifyNone(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	other := exec.Command("sleep", "60")
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { other.Process.Kill(); other.Wait() }()
	otherAddr := firstMapping(t, other.Process.Pid)
	// This process may read the other one: a denial in the child is the
	// sandbox's.
	var word uint64
	if _, err := unix.ProcessVMReadv(other.Process.Pid, []unix.Iovec{{Base: (*byte)(unsafe.Pointer(&word)), Len: 8}},
		[]unix.RemoteIovec{{Base: otherAddr, Len: 8}}, 0); err != nil {
		t.Fatalf("the test process cannot read the other process either: %v", err)
	}

	// With a user network, whose NAT runs in this process: the child
	// still has no socket calls.
	k := start(t, &lkl.Config{Interfaces: []lkl.Interface{{Type: "user", Restrict: "off"}}})
	port := uintptr(l.Addr().(*net.TCPAddr).Port)
	var mine uint64 = 42
	for _, tc := range []struct {
		name       string
		what, arg  uintptr
		addr       uintptr
		wantDenied bool
	}{
		{"open a host file", isolated.ProbeOpen, 0, 0, true},
		{"execve", isolated.ProbeExec, 0, 0, true},
		{"connect to a host socket", isolated.ProbeConnect, port, 0, true},
		{"read another process's memory", isolated.ProbeReadOther, uintptr(other.Process.Pid), otherAddr, true},
		{"read the parent's memory", isolated.ProbeReadParent, 0, uintptr(unsafe.Pointer(&mine)), false},
	} {
		e := k.Probe(tc.what, tc.arg, tc.addr)
		if tc.wantDenied && e != unix.EPERM {
			t.Errorf("%s: %v, want EPERM from the sandbox", tc.name, e)
		}
		if !tc.wantDenied && e != 0 {
			t.Errorf("%s: %v, want it to work", tc.name, e)
		}
	}
	if err := k.Halt(); err != nil {
		t.Fatalf("halt after the probes: %v", err)
	}
}

// firstMapping returns the start of the first mapping of process pid.
func firstMapping(t *testing.T, pid int) uintptr {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/maps")
	if err != nil {
		t.Fatal(err)
	}
	start, _, _ := strings.Cut(string(b), "-")
	a, err := strconv.ParseUint(start, 16, 64)
	if err != nil {
		t.Fatal(err)
	}
	return uintptr(a)
}

// TestHaltRepeatedly starts and halts kernels in a row: the child answers
// the halt and exits at once, and the parent may see the exit before the
// answer; that is a clean halt, never an error. Halted kernels leave no
// channel mapped.
func TestHaltRepeatedly(t *testing.T) {
	defer goleak.VerifyNone(t)
	channels := func() int {
		b, err := os.ReadFile("/proc/self/maps")
		if err != nil {
			t.Fatal(err)
		}
		return strings.Count(string(b), "memfd:gokernel-isolated")
	}
	before := channels()
	defer func() {
		if n := channels(); n != before {
			t.Errorf("%d channels mapped after the halts, %d before", n, before)
		}
	}()
	for i := range 10 {
		k, err := isolated.Start(nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := k.Halt(); err != nil {
			t.Fatalf("halt %d: %v", i, err)
		}
	}
}

// bigData writes, preads and reads a file of more than 3 MiB with single
// calls: the data calls' bounce path in the child, in chunks of 1 MiB.
func bigData(t *testing.T, k sys.Kernel, path string) {
	t.Helper()
	data := make([]byte, 3<<20+17)
	for i := range data {
		data[i] = byte(i*7 + i>>12)
	}
	p, _ := unix.BytePtrFromString(path)
	fd, _, e := sys.SyscallOn(k, unix.SYS_OPEN, uintptr(unsafe.Pointer(p)), unix.O_CREAT|unix.O_RDWR|unix.O_TRUNC, 0o644, 0, 0, 0)
	if e != 0 {
		t.Fatalf("open %s: %v", path, e)
	}
	defer sys.SyscallOn(k, unix.SYS_CLOSE, fd, 0, 0, 0, 0, 0)
	if n, _, e := sys.SyscallOn(k, unix.SYS_WRITE, fd, uintptr(unsafe.Pointer(&data[0])), uintptr(len(data)), 0, 0, 0); e != 0 || n != uintptr(len(data)) {
		t.Fatalf("write: %d, %v", n, e)
	}
	got := make([]byte, 2<<20)
	if n, _, e := sys.SyscallOn(k, unix.SYS_PREAD64, fd, uintptr(unsafe.Pointer(&got[0])), uintptr(len(got)), 1<<20+5, 0, 0); e != 0 || n != uintptr(len(got)) {
		t.Fatalf("pread: %d, %v", n, e)
	}
	if !bytes.Equal(got, data[1<<20+5:3<<20+5]) {
		t.Fatal("pread: wrong bytes")
	}
	if _, _, e := sys.SyscallOn(k, unix.SYS_LSEEK, fd, 0, 0, 0, 0, 0); e != 0 {
		t.Fatalf("lseek: %v", e)
	}
	all := make([]byte, len(data)+100)
	n, _, e := sys.SyscallOn(k, unix.SYS_READ, fd, uintptr(unsafe.Pointer(&all[0])), uintptr(len(all)), 0, 0, 0)
	if e != 0 || !bytes.Equal(all[:n], data) {
		t.Fatalf("read: %d bytes, %v (or wrong bytes)", n, e)
	}
	// A buffer the parent has not mapped is EFAULT, as on Linux.
	if _, _, e := sys.SyscallOn(k, unix.SYS_PREAD64, fd, 4096, 1<<20, 0, 0, 0); e != unix.EFAULT {
		t.Fatalf("pread into unmapped memory: %v, want EFAULT", e)
	}
}

// TestShutdownReportsDeath: with an isolated kernel as the process
// default, sys.Shutdown after the child was killed returns the DiedError.
func TestShutdownReportsDeath(t *testing.T) {
	defer goleak.VerifyNone(t)
	k := start(t, nil)
	old := sys.Default()
	sys.SetDefault(k)
	defer sys.SetDefault(old)
	if err := syscall.Kill(k.Pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(10 * time.Second); k.Died() == nil; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) { // the parent reaps it at once
			t.Fatal("the killed child was never reaped")
		}
	}
	if _, _, e := sys.Syscall(unix.SYS_GETPID, 0, 0, 0, 0, 0, 0); e != syscall.EIO {
		t.Fatalf("getpid on the dead default kernel: %v, want EIO", e)
	}
	var d *isolated.DiedError
	if err := sys.Shutdown(); !errors.As(err, &d) || d.Signal != syscall.SIGKILL {
		t.Fatalf("sys.Shutdown: %v, want the DiedError", err)
	}
}

// TestAddDisk attaches images to a running isolated kernel: a read-only
// one (read, listed by Mounts, unmounted), a writable one (written,
// unmounted, added again: the write is there), a host file through
// AttachDisk; a Go-served device and a qcow2 image are EOPNOTSUPP, a
// missing file names itself. This process keeps no fd of them.
func TestAddDisk(t *testing.T) {
	defer goleak.VerifyNone(t)
	img := imagetest.Build(t, "ext4", imagetest.Tree{"hello.txt": "hello from the image\n"})
	kerneltest.CheckFDs(t, sys.Host())
	k := start(t, nil)
	info, err := k.AddDisk(lkl.Disk{Path: img, ReadOnly: true, MountPoint: "/mnt/ro"})
	if err != nil || info.FSType != "ext4" || info.MountPoint != "/mnt/ro" {
		t.Fatalf("AddDisk read-only: %+v, %v", info, err)
	}
	if got, e := fileOn(t, k, "/mnt/ro/hello.txt"); e != 0 || got != "hello from the image\n" {
		t.Fatalf("read: %q, %v", got, e)
	}
	if e := writeOn(t, k, "/mnt/ro/new.txt", "x"); e != syscall.EROFS {
		t.Fatalf("write on the read-only disk: %v, want EROFS", e)
	}
	if m := k.Mounts(); len(m) != 1 || m[0].MountPoint != "/mnt/ro" {
		t.Fatalf("Mounts = %+v", m)
	}
	if err := k.Unmount("/mnt/ro"); err != nil {
		t.Fatal(err)
	}
	if m := k.Mounts(); len(m) != 0 {
		t.Fatalf("Mounts after Unmount = %+v", m)
	}
	if _, err := k.AddDisk(lkl.Disk{Path: img, MountPoint: "/mnt/rw"}); err != nil {
		t.Fatalf("AddDisk writable: %v", err)
	}
	if e := writeOn(t, k, "/mnt/rw/new.txt", "written\n"); e != 0 {
		t.Fatalf("write: %v", e)
	}
	if err := k.Unmount("/mnt/rw"); err != nil {
		t.Fatal(err)
	}
	f, err := disk.OpenFile(img, true)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := k.AttachDisk(f, lkl.Disk{MountPoint: "/mnt/again"}); err != nil {
		t.Fatalf("AttachDisk of a host file: %v", err)
	}
	if got, e := fileOn(t, k, "/mnt/again/new.txt"); e != 0 || got != "written\n" {
		t.Fatalf("the write after a new attach: %q, %v", got, e)
	}
	if _, err := k.AttachDisk(disk.NewMemory(1<<20), lkl.Disk{}); !errors.Is(err, syscall.EOPNOTSUPP) || !errors.Is(err, errors.ErrUnsupported) || !strings.Contains(err.Error(), "isolated") {
		t.Fatalf("AttachDisk of a Go device: %v, want EOPNOTSUPP naming isolation", err)
	}
	if _, err := k.AddDisk(lkl.Disk{Path: img, Format: "qcow2"}); !errors.Is(err, syscall.EOPNOTSUPP) {
		t.Fatalf("AddDisk of a qcow2 image: %v, want EOPNOTSUPP", err)
	}
	if _, err := k.AddDisk(lkl.Disk{Path: "/nonexistent/x.img"}); err == nil || !strings.Contains(err.Error(), "/nonexistent/x.img") {
		t.Fatalf("AddDisk of a missing file: %v", err)
	}
	if err := k.Halt(); err != nil {
		t.Fatal(err)
	}
	if _, err := k.AddDisk(lkl.Disk{Path: img}); err == nil {
		t.Fatal("AddDisk after Halt worked")
	}
}
