//go:build lkl

package isolated_test

import (
	"errors"
	"os"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

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

// blockedRead starts a read of an empty LKL pipe and returns its errno's
// channel.
func blockedRead(t *testing.T, k *isolated.Kernel) <-chan syscall.Errno {
	var p [2]int32
	if _, _, e := sys.SyscallOn(k, unix.SYS_PIPE2, uintptr(unsafe.Pointer(&p)), 0, 0, 0, 0, 0); e != 0 {
		t.Fatalf("pipe2: %v", e)
	}
	got := make(chan syscall.Errno, 1)
	go func() {
		b := make([]byte, 8)
		_, _, e := sys.SyscallOn(k, unix.SYS_READ, uintptr(p[0]), uintptr(unsafe.Pointer(&b[0])), 8, 0, 0, 0)
		got <- e
	}()
	time.Sleep(50 * time.Millisecond) // let it block in the child
	return got
}

// TestChildKilled kills the child under a blocked call: the call and every
// later one return EIO, and Halt reports the signal.
func TestChildKilled(t *testing.T) {
	defer goleak.VerifyNone(t)
	k := start(t, nil)
	read := blockedRead(t, k)
	if err := syscall.Kill(k.Pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-read:
		if e != syscall.EIO {
			t.Fatalf("blocked read: %v, want EIO", e)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the blocked read never returned")
	}
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
	read := blockedRead(t, k)
	if err := syscall.Kill(k.Pid(), syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-read:
		if e != syscall.EIO {
			t.Fatalf("blocked read: %v, want EIO", e)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the stopped child was never killed")
	}
	err := k.Halt()
	var d *isolated.DiedError
	if !errors.As(err, &d) || !strings.Contains(d.Reason, "isolation_deadline") {
		t.Fatalf("halt: %v, want a DiedError naming isolation_deadline", err)
	}
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
