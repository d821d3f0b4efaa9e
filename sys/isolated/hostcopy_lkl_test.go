//go:build lkl

package isolated_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/sys/isolated"
	"github.com/gokernel/gokernel/sys/lkl"
)

var _ sys.HostCopier = (*isolated.Kernel)(nil)

// hostCopySize is the test file's size: several of the child's 1 MiB
// chunks and a tail.
const hostCopySize = 5<<20 + 7

// hostCopyFile makes /copied in k holding hostCopySize bytes and returns
// an fd of it (read-write, at the end) and the bytes.
func hostCopyFile(t *testing.T, k *isolated.Kernel) (uintptr, []byte) {
	t.Helper()
	data := make([]byte, hostCopySize)
	for i := range data {
		data[i] = byte(i*7 + i>>20)
	}
	return createFile(t, k, "/copied", data), data
}

// createFile makes path in k, read-write, holding data, and returns its
// fd (at offset len(data)).
func createFile(t *testing.T, k sys.Kernel, path string, data []byte) uintptr {
	t.Helper()
	p, _ := unix.BytePtrFromString(path)
	fd, _, e := sys.SyscallOn(k, unix.SYS_OPEN, uintptr(unsafe.Pointer(p)), unix.O_CREAT|unix.O_RDWR|unix.O_TRUNC, 0o644, 0, 0, 0)
	if e != 0 {
		t.Fatalf("open %s: %v", path, e)
	}
	if n, _, e := sys.SyscallOn(k, unix.SYS_WRITE, fd, uintptr(unsafe.Pointer(&data[0])), uintptr(len(data)), 0, 0, 0); e != 0 || n != uintptr(len(data)) {
		t.Fatalf("write %s: %d, %v", path, n, e)
	}
	return fd
}

// offset returns fd's offset in k.
func offset(t *testing.T, k sys.Kernel, fd uintptr) int64 {
	t.Helper()
	pos, _, e := sys.SyscallOn(k, unix.SYS_LSEEK, fd, 0, unix.SEEK_CUR, 0, 0, 0)
	if e != 0 {
		t.Fatalf("lseek: %v", e)
	}
	return int64(pos)
}

func seek(t *testing.T, k sys.Kernel, fd uintptr, off int64) {
	t.Helper()
	if _, _, e := sys.SyscallOn(k, unix.SYS_LSEEK, fd, uintptr(off), unix.SEEK_SET, 0, 0, 0); e != 0 {
		t.Fatalf("lseek: %v", e)
	}
}

// childFDs counts the fds open in the kernel's process.
func childFDs(t *testing.T, k *isolated.Kernel) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(k.Pid()) + "/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// drain reads r to its end in the background.
func drain(r io.Reader) <-chan []byte {
	out := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(r)
		out <- b
	}()
	return out
}

// TestCopyToHost: the child copies an LKL file into a host file and a
// pipe byte for byte, from the file's offset, to its end or a limit, to
// the destination's own offset; the file's offset ends after the bytes
// written; a pipe without a reader is the write's EPIPE, and a full
// non-blocking one its EAGAIN after a short count, both with the bytes
// not written given back to the file; a file that cannot seek, and a
// destination the child cannot take, are ErrUnsupported; the child keeps
// none of the fds it was given.
func TestCopyToHost(t *testing.T) {
	defer goleak.VerifyNone(t)
	kerneltest.CheckFDs(t, sys.Host())
	k := start(t, nil)
	fd, data := hostCopyFile(t, k)
	fds := childFDs(t, k)

	// Into a regular file, at its offset (10), from the LKL file's (3).
	f, err := os.CreateTemp(t.TempDir(), "dst")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString("0123456789")
	seek(t, k, fd, 3)
	n, err := k.CopyToHost(int(fd), f.Fd(), -1)
	if err != nil || n != hostCopySize-3 {
		t.Fatalf("copy into a file: %d, %v; want %d", n, err, hostCopySize-3)
	}
	got, _ := os.ReadFile(f.Name())
	if !bytes.Equal(got, append([]byte("0123456789"), data[3:]...)) {
		t.Fatalf("the file holds %d bytes, not the prefix and the LKL file's from offset 3", len(got))
	}
	if pos, _ := f.Seek(0, io.SeekCurrent); pos != int64(len(got)) {
		t.Errorf("the host file's offset: %d, want %d", pos, len(got))
	}
	if pos := offset(t, k, fd); pos != hostCopySize {
		t.Errorf("the LKL file's offset: %d, want %d", pos, hostCopySize)
	}
	// At the end: nothing, no error.
	if n, err := k.CopyToHost(int(fd), f.Fd(), -1); n != 0 || err != nil {
		t.Errorf("copy at the end: %d, %v", n, err)
	}

	// Into a pipe, a limit from offset 100.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	out := drain(r)
	const limit = 2<<20 + 1
	seek(t, k, fd, 100)
	n, err = k.CopyToHost(int(fd), w.Fd(), limit)
	w.Close()
	if err != nil || n != limit {
		t.Fatalf("copy of %d into a pipe: %d, %v", limit, n, err)
	}
	if b := <-out; !bytes.Equal(b, data[100:100+limit]) {
		t.Fatalf("the pipe carried %d bytes, not the file's %d from offset 100", len(b), limit)
	}
	r.Close()
	if pos := offset(t, k, fd); pos != 100+limit {
		t.Errorf("the LKL file's offset after the limit: %d, want %d", pos, 100+limit)
	}

	// A pipe without a reader: EPIPE, nothing consumed.
	r, w, err = os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	seek(t, k, fd, 5000)
	n, err = k.CopyToHost(int(fd), w.Fd(), -1)
	var se *os.SyscallError
	if n != 0 || !errors.As(err, &se) || se.Syscall != "write" || !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("copy into a pipe without a reader: %d, %v; want 0 and write's EPIPE", n, err)
	}
	if pos := offset(t, k, fd); pos != 5000 {
		t.Errorf("the LKL file's offset after EPIPE: %d, want 5000", pos)
	}
	w.Close()

	// A full non-blocking pipe: a short count, EAGAIN, and the offset
	// right after the bytes that went in.
	r, w, err = os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	wfd := w.Fd() // in blocking mode: Fd sets it
	if err := syscall.SetNonblock(int(wfd), true); err != nil {
		t.Fatal(err)
	}
	n, err = k.CopyToHost(int(fd), wfd, -1)
	if n <= 0 || n >= 1<<20 || !errors.Is(err, syscall.EAGAIN) || !errors.As(err, &se) {
		t.Fatalf("copy into a full non-blocking pipe: %d, %v; want a short count and write's EAGAIN", n, err)
	}
	if pos := offset(t, k, fd); pos != 5000+n {
		t.Errorf("the LKL file's offset after a short write: %d, want %d", pos, 5000+n)
	}
	w.Close()
	if b := <-drain(r); !bytes.Equal(b, data[5000:5000+n]) {
		t.Errorf("the full pipe holds %d bytes, not the file's %d from offset 5000", len(b), n)
	}
	r.Close()

	// Not this way: an LKL pipe cannot seek; a closed host fd cannot be
	// taken. Nothing is read.
	var p [2]int32
	if _, _, e := sys.SyscallOn(k, unix.SYS_PIPE2, uintptr(unsafe.Pointer(&p)), 0, 0, 0, 0, 0); e != 0 {
		t.Fatalf("pipe2: %v", e)
	}
	if n, err := k.CopyToHost(int(p[0]), f.Fd(), -1); n != 0 || !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("copy from an LKL pipe: %d, %v; want ErrUnsupported", n, err)
	}
	for _, fd := range p {
		sys.SyscallOn(k, unix.SYS_CLOSE, uintptr(fd), 0, 0, 0, 0, 0)
	}
	seek(t, k, fd, 0)
	if n, err := k.CopyToHost(int(fd), 1<<20, -1); n != 0 || !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("copy into a host fd that is not open: %d, %v; want ErrUnsupported", n, err)
	}
	if pos := offset(t, k, fd); pos != 0 {
		t.Errorf("the LKL file's offset after the refused copy: %d, want 0", pos)
	}
	if n := childFDs(t, k); n != fds {
		t.Errorf("the child has %d fds after the copies, %d before", n, fds)
	}
	sys.SyscallOn(k, unix.SYS_CLOSE, fd, 0, 0, 0, 0, 0)
	if err := k.Halt(); err != nil { // before goleak looks
		t.Fatal(err)
	}
	if _, err := k.CopyToHost(0, f.Fd(), -1); err == nil {
		t.Error("copy after the halt: no error")
	}
}

// TestCopyToHostChanging: a copy reads to the end of the file as it is
// when it gets there: a file that grows or shrinks while the copy waits
// on a pipe (with a per-call deadline far shorter than the wait, which a
// wait on the host fd does not count against) gives the file's bytes as
// they are then.
func TestCopyToHostChanging(t *testing.T) {
	defer goleak.VerifyNone(t)
	kerneltest.CheckFDs(t, sys.Host())
	const deadline = 300 * time.Millisecond
	k := start(t, &lkl.Config{IsolationCallDeadline: deadline.String()})
	fd, data := hostCopyFile(t, k)
	more := bytes.Repeat([]byte("grown"), 300_000)
	for _, c := range []struct {
		name   string
		change func()
		want   []byte
	}{
		{"grows", func() {
			if n, _, e := sys.SyscallOn(k, unix.SYS_PWRITE64, fd, uintptr(unsafe.Pointer(&more[0])), uintptr(len(more)), hostCopySize, 0, 0); e != 0 || n != uintptr(len(more)) {
				t.Errorf("append: %d, %v", n, e)
			}
		}, append(append([]byte{}, data...), more...)},
		{"shrinks", func() {
			if _, _, e := sys.SyscallOn(k, unix.SYS_FTRUNCATE, fd, 2<<20, 0, 0, 0, 0); e != 0 {
				t.Errorf("ftruncate: %v", e)
			}
		}, data[:2<<20]},
	} {
		t.Run(c.name, func(t *testing.T) {
			seek(t, k, fd, 0)
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			type result struct {
				n   int64
				err error
			}
			done := make(chan result, 1)
			go func() {
				n, err := k.CopyToHost(int(fd), w.Fd(), -1)
				w.Close()
				done <- result{n, err}
			}()
			// The child has read its first 1 MiB and waits on the pipe
			// (64 KiB) for longer than the deadline.
			time.Sleep(4 * deadline)
			c.change()
			got := drain(r)
			res := <-done
			if b := <-got; res.err != nil || res.n != int64(len(c.want)) || !bytes.Equal(b, c.want) {
				t.Fatalf("copy: %d, %v, %d bytes through the pipe; want the file's %d as they are now", res.n, res.err, len(b), len(c.want))
			}
		})
	}
	if pid, _, e := sys.SyscallOn(k, unix.SYS_GETPID, 0, 0, 0, 0, 0, 0); e != 0 || pid != 1 {
		t.Fatalf("getpid after copies that waited past the deadline: %d, %v", pid, e)
	}
	if err := k.Halt(); err != nil {
		t.Fatal(err)
	}
}

// TestCopyToHostDies: a copy whose read from LKL stands still is bounded
// by isolation_call_deadline (the child is killed, the copy returns the
// DiedError naming it); a child killed while a copy waits on its pipe
// ends the copy with a DiedError. Neither hangs.
func TestCopyToHostDies(t *testing.T) {
	defer goleak.VerifyNone(t)
	kerneltest.CheckFDs(t, sys.Host())
	const deadline = 300 * time.Millisecond
	t.Run("stalls", func(t *testing.T) {
		k := start(t, &lkl.Config{IsolationCallDeadline: deadline.String()})
		fd, _ := hostCopyFile(t, k)
		f, err := os.Create(t.TempDir() + "/dst")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		began := time.Now()
		n, err := k.CopyToHost(int(fd), f.Fd(), isolated.StallLimit)
		var d *isolated.DiedError
		if n != 0 || !errors.As(err, &d) || d.Deadline != "isolation_call_deadline" || !strings.Contains(d.Reason, "host copy") {
			t.Fatalf("a stalled copy: %d, %v; want a DiedError of isolation_call_deadline naming the host copy", n, err)
		}
		t.Logf("the stalled copy returned after %v (deadline %v): %v", time.Since(began), deadline, err)
		k.Halt()
	})
	t.Run("killed", func(t *testing.T) {
		k := start(t, nil)
		fd, _ := hostCopyFile(t, k)
		seek(t, k, fd, 0)
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		defer w.Close()
		done := make(chan error, 1)
		go func() {
			_, err := k.CopyToHost(int(fd), w.Fd(), -1)
			done <- err
		}()
		time.Sleep(100 * time.Millisecond) // the child waits on the full pipe
		select {
		case err := <-done:
			t.Fatalf("the copy into a pipe no one reads returned: %v", err)
		default:
		}
		if err := syscall.Kill(k.Pid(), syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			var d *isolated.DiedError
			if !errors.As(err, &d) || d.Signal != syscall.SIGKILL {
				t.Fatalf("the copy after SIGKILL: %v, want a DiedError", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the copy never returned after SIGKILL")
		}
		k.Halt()
	})
}
