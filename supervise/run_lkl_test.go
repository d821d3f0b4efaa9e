//go:build lkl && amd64

package supervise_test

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/internal/imagetest"
	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/supervise"
	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/sys/lkl"
)

// lklMount is where the tests' image is mounted in LKL.
const lklMount = "/mnt/img"

var lklOnce struct {
	sync.Once
	k   *lkl.Kernel
	err error
}

// lklKernel boots the test binary's LKL once, with a read-only ext4
// image at lklMount holding a.txt and big.bin (64 KiB).
func lklKernel(t testing.TB) *lkl.Kernel {
	lklOnce.Do(func() {
		img := imagetest.Build(t, "ext4", imagetest.Tree{"a.txt": "hello\n", "big.bin": strings.Repeat("0123456789abcdef", 4096)})
		// the image outlives t: copy it where the cleanup removes it
		dir, err := os.MkdirTemp("", "supervise")
		if err != nil {
			lklOnce.err = err
			return
		}
		b, err := os.ReadFile(img)
		if err == nil {
			err = os.WriteFile(dir+"/img", b, 0o644)
		}
		if err != nil {
			lklOnce.err = err
			return
		}
		lklOnce.k, lklOnce.err = lkl.Boot(&lkl.Config{Disks: []lkl.Disk{{Path: dir + "/img", ReadOnly: true, MountPoint: lklMount}}})
		cleanups = append(cleanups, func() error {
			defer os.RemoveAll(dir)
			if lklOnce.k != nil {
				return lklOnce.k.Halt()
			}
			return nil
		})
	})
	require.NoError(t, lklOnce.err)
	return lklOnce.k
}

func lklOptions(k *lkl.Kernel) supervise.Options {
	return supervise.Options{
		Kernel:     k,
		ForProcess: func(pid int) (sys.Kernel, error) { return k.ForProcess(pid) },
		Dirs:       []string{lklMount},
		Sockets:    supervise.SocketsLKL, // these tests are about LKL's fds in the program; bridge_lkl_test.go is about bridges
	}
}

func init() {
	programs["wild"] = progWild
	programs["midcall"] = progMidCall
	programs["bench"] = progBench
	programs["sendfile"] = progSendfile
	programs["exec"] = progExec
	programs["afterexec"] = progAfterExec
}

// TestRunLKLExec: execve closes the LKL fds marked close-on-exec and
// keeps the others; a failed execve (a program not there) closes none.
func TestRunLKLExec(t *testing.T) {
	k := lklKernel(t)
	kerneltest.CheckFDs(t, k)
	code, out, errs := runProgram(t, lklOptions(k), "exec")
	require.Equal(t, 0, code, "stdout: %s\nstderr: %s", out, errs)
	require.Equal(t, "kept open, closed on exec\n", out)
}

// progExec opens a file of the image twice, once close-on-exec, tries to
// execute a program that is not there, then executes this binary as
// afterexec with the two fd numbers.
func progExec() error {
	path, _ := unix.BytePtrFromString(lklMount + "/a.txt")
	keep, e := raw(unix.SYS_OPENAT, uintptr(atFDCWD), uintptr(unsafe.Pointer(path)), unix.O_RDONLY)
	if e != 0 {
		return e
	}
	gone, e := raw(unix.SYS_OPENAT, uintptr(atFDCWD), uintptr(unsafe.Pointer(path)), unix.O_RDONLY|unix.O_CLOEXEC)
	if e != 0 {
		return e
	}
	if err := syscall.Exec("/nonexistent/program", []string{"x"}, nil); err == nil || !errors.Is(err, syscall.ENOENT) {
		return fmt.Errorf("exec of nothing: %v", err)
	}
	if _, e := raw(unix.SYS_FCNTL, gone, unix.F_GETFD); e != 0 {
		return fmt.Errorf("after a failed exec, the close-on-exec fd: %v", e)
	}
	env := []string{progEnv + "=afterexec", "KEEP=" + strconv.Itoa(int(keep)), "GONE=" + strconv.Itoa(int(gone))}
	return syscall.Exec(os.Args[0], []string{os.Args[0]}, env)
}

// progAfterExec checks the fds progExec left.
func progAfterExec() error {
	keep, _ := strconv.Atoi(os.Getenv("KEEP"))
	gone, _ := strconv.Atoi(os.Getenv("GONE"))
	buf := make([]byte, 16)
	n, e := raw(unix.SYS_READ, uintptr(keep), uintptr(unsafe.Pointer(&buf[0])), 16)
	if e != 0 || string(buf[:n]) != "hello\n" {
		return fmt.Errorf("read of the fd kept: %q, %v", buf[:n], e)
	}
	if _, e := raw(unix.SYS_FCNTL, uintptr(gone), unix.F_GETFD); e != unix.EBADF {
		return fmt.Errorf("the close-on-exec fd after exec: %v, want EBADF", e)
	}
	raw(unix.SYS_CLOSE, uintptr(keep))
	fmt.Println("kept open, closed on exec")
	return nil
}

// TestRunLKLSendfile: sendfile from a host file to an LKL socket, with
// and without an offset pointer.
func TestRunLKLSendfile(t *testing.T) {
	k := lklKernel(t)
	kerneltest.CheckFDs(t, k)
	code, out, errs := runProgram(t, lklOptions(k), "sendfile")
	require.Equal(t, 0, code, "stdout: %s\nstderr: %s", out, errs)
}

// lklPair makes a listening LKL socket on LKL's loopback and a
// connection to it: the client's end and the accepted one.
func lklPair() (ln, cl, srv uintptr, err error) {
	ln, e := raw(unix.SYS_SOCKET, unix.AF_INET, unix.SOCK_STREAM, 0)
	if e != 0 {
		return 0, 0, 0, e
	}
	sa := unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: [4]byte{127, 0, 0, 1}}
	n := uint32(unsafe.Sizeof(sa))
	for _, c := range []struct {
		trap uintptr
		args []uintptr
	}{
		{unix.SYS_BIND, []uintptr{ln, uintptr(unsafe.Pointer(&sa)), unsafe.Sizeof(sa)}},
		{unix.SYS_LISTEN, []uintptr{ln, 1}},
		{unix.SYS_GETSOCKNAME, []uintptr{ln, uintptr(unsafe.Pointer(&sa)), uintptr(unsafe.Pointer(&n))}},
	} {
		if _, e := raw(c.trap, c.args...); e != 0 {
			return 0, 0, 0, fmt.Errorf("%d: %v", c.trap, e)
		}
	}
	cl, e = raw(unix.SYS_SOCKET, unix.AF_INET, unix.SOCK_STREAM, 0)
	if e != 0 {
		return 0, 0, 0, e
	}
	if _, e := raw(unix.SYS_CONNECT, cl, uintptr(unsafe.Pointer(&sa)), unsafe.Sizeof(sa)); e != 0 {
		return 0, 0, 0, fmt.Errorf("connect: %v", e)
	}
	srv, e = raw(unix.SYS_ACCEPT4, ln, 0, 0, 0)
	if e != 0 {
		return 0, 0, 0, fmt.Errorf("accept4: %v", e)
	}
	return ln, cl, srv, nil
}

// progSendfile connects two LKL sockets over LKL's loopback and sends
// parts of this binary (a host file) from one to the other.
func progSendfile() error {
	ln, cl, srv, err := lklPair()
	if err != nil {
		return err
	}
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		return err
	}
	f, err := os.Open(os.Args[0])
	if err != nil {
		return err
	}
	defer f.Close()
	recv := func(size int) ([]byte, error) {
		b := make([]byte, size)
		for got := 0; got < size; {
			r, e := raw(unix.SYS_READ, cl, uintptr(unsafe.Pointer(&b[got])), uintptr(size-got))
			if e != 0 || r == 0 {
				return nil, fmt.Errorf("read: %d, %v", r, e)
			}
			got += int(r)
		}
		return b, nil
	}
	// With an offset: the file's own offset stays 0.
	off := int64(1000)
	w, e := raw(unix.SYS_SENDFILE, srv, f.Fd(), uintptr(unsafe.Pointer(&off)), 5000)
	if e != 0 || w != 5000 || off != 6000 {
		return fmt.Errorf("sendfile with offset: %d, %v, offset %d", w, e, off)
	}
	b, err := recv(5000)
	if err != nil || string(b) != string(self[1000:6000]) {
		return fmt.Errorf("received %d bytes, not the file's [1000:6000]: %v", len(b), err)
	}
	// Without: from the file's offset, which moves.
	if _, err := f.Seek(10, 0); err != nil {
		return err
	}
	w, e = raw(unix.SYS_SENDFILE, srv, f.Fd(), 0, 100)
	if e != 0 || w != 100 {
		return fmt.Errorf("sendfile: %d, %v", w, e)
	}
	if pos, _ := f.Seek(0, 1); pos != 110 {
		return fmt.Errorf("file offset %d after sendfile, want 110", pos)
	}
	b, err = recv(100)
	if err != nil || string(b) != string(self[10:110]) {
		return fmt.Errorf("received not the file's [10:110]: %v", err)
	}
	// From a pipe: EINVAL (what is read could not be given back).
	var p [2]int32
	raw(unix.SYS_PIPE2, uintptr(unsafe.Pointer(&p)), 0)
	if _, e := raw(unix.SYS_SENDFILE, srv, uintptr(p[0]), 0, 100); e != unix.EINVAL {
		return fmt.Errorf("sendfile from a pipe: %v", e)
	}
	for _, fd := range []uintptr{uintptr(p[0]), uintptr(p[1]), srv, cl, ln} {
		raw(unix.SYS_CLOSE, fd)
	}
	return nil
}

// TestRunLKLBadInput: a program that passes wild pointers, closes fds it
// does not own and exits in the middle of a call blocked in LKL leaves
// the supervisor up and no fd open in LKL or on the host.
func TestRunLKLBadInput(t *testing.T) {
	k := lklKernel(t)
	kerneltest.CheckFDs(t, k)
	kerneltest.CheckFDs(t, sys.Host())
	runTraced(t, lklOptions(k), "wild")

	// Run would return an error if the call blocked in accept outlived
	// the program by 10 s (runProgram requires none).
	code, out, errs := runProgram(t, lklOptions(k), "midcall")
	require.Equal(t, 7, code, "stdout: %s\nstderr: %s", out, errs)
}

// progWild makes calls with bad pointers and fds.
func progWild() error {
	s, e := raw(unix.SYS_SOCKET, unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if e != 0 || s < fdBase {
		return fmt.Errorf("socket: %d, %v", s, e)
	}
	var errs []error
	check := func(what string, e, wantE syscall.Errno) {
		if e != wantE {
			errs = append(errs, fmt.Errorf("%s: %v, want %v", what, e, wantE))
		}
	}
	_, e = raw(unix.SYS_BIND, s, 0x10, 16)
	check("bind NULL page", e, unix.EFAULT)
	_, e = raw(unix.SYS_BIND, s, 0x7ff0_dead_0000, 16)
	check("bind unmapped", e, unix.EFAULT)
	_, e = raw(unix.SYS_OPENAT, uintptr(atFDCWD), 0x20, unix.O_RDONLY)
	check("openat wild path", e, unix.EFAULT)
	_, e = raw(unix.SYS_CLOSE, fdBase+77)
	check("close of an fd not ours", e, unix.EBADF)
	_, e = raw(unix.SYS_READ, fdBase+78, 0x10, 10)
	check("read of an fd not ours", e, unix.EBADF)
	sa := unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: [4]byte{127, 0, 0, 1}}
	_, e = raw(unix.SYS_BIND, s, uintptr(unsafe.Pointer(&sa)), unsafe.Sizeof(sa))
	check("bind", e, 0)
	var got unix.RawSockaddrInet4
	n := uint32(unsafe.Sizeof(got))
	_, e = raw(unix.SYS_GETSOCKNAME, s, uintptr(unsafe.Pointer(&got)), uintptr(unsafe.Pointer(&n)))
	check("getsockname", e, 0)
	if got.Port == 0 {
		errs = append(errs, errors.New("getsockname: port 0"))
	}
	_, e = raw(unix.SYS_GETSOCKNAME, s, 0x10, uintptr(unsafe.Pointer(&n)))
	check("getsockname to the NULL page", e, unix.EFAULT)
	f, e := raw(unix.SYS_OPENAT, uintptr(atFDCWD), uintptr(unsafe.Pointer(unsafe.StringData(lklMount+"/a.txt\x00"))), unix.O_RDONLY)
	check("openat in the image", e, 0)
	_, e = raw(unix.SYS_READ, f, 0x10, 10)
	check("read to the NULL page", e, unix.EFAULT)
	buf := make([]byte, 16)
	r, e := raw(unix.SYS_READ, f, uintptr(unsafe.Pointer(&buf[0])), 16)
	check("read", e, 0)
	if string(buf[:r]) != "hello\n" {
		errs = append(errs, fmt.Errorf("read %q", buf[:r]))
	}
	raw(unix.SYS_CLOSE, f)
	raw(unix.SYS_CLOSE, s)
	return errors.Join(errs...)
}

// progMidCall exits (status 7) while another thread is blocked in accept
// on an LKL socket.
func progMidCall() error {
	s, e := raw(unix.SYS_SOCKET, unix.AF_INET, unix.SOCK_STREAM, 0)
	if e != 0 {
		return e
	}
	sa := unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: [4]byte{127, 0, 0, 1}}
	if _, e := raw(unix.SYS_BIND, s, uintptr(unsafe.Pointer(&sa)), unsafe.Sizeof(sa)); e != 0 {
		return e
	}
	if _, e := raw(unix.SYS_LISTEN, s, 1); e != 0 {
		return e
	}
	go raw(unix.SYS_ACCEPT4, s, 0, 0, 0)
	time.Sleep(200 * time.Millisecond)
	os.Exit(7)
	return nil
}

// progBench times calls, each many times, and prints the median of each
// in ns: "fcntl N" (fcntl(F_GETFL), no pointers: the round trip) and
// "pread4k N" (a 4 KiB pread from a file), on fds of LKL when run under
// the supervisor, of the host when not (BENCH_FILE names the file).
func progBench() error {
	file := os.Getenv("BENCH_FILE")
	p, _ := unix.BytePtrFromString(file)
	f, e := raw(unix.SYS_OPENAT, uintptr(atFDCWD), uintptr(unsafe.Pointer(p)), unix.O_RDONLY)
	if e != 0 {
		return fmt.Errorf("open %s: %v", file, e)
	}
	n, _ := strconv.Atoi(os.Getenv("BENCH_N"))
	n = max(n, 100)
	buf := make([]byte, 4096)
	median := func(call func()) time.Duration {
		d := make([]time.Duration, n)
		for i := range d {
			t0 := time.Now()
			call()
			d[i] = time.Since(t0)
		}
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		return d[n/2]
	}
	fc := median(func() { raw(unix.SYS_FCNTL, f, unix.F_GETFL) })
	rd := median(func() { raw(unix.SYS_PREAD64, f, uintptr(unsafe.Pointer(&buf[0])), 4096, 0) })
	fmt.Printf("fcntl %d\npread4k %d\n", fc.Nanoseconds(), rd.Nanoseconds())
	return nil
}

// BenchmarkCall reports the median latency of an intercepted call (fcntl
// F_GETFL, no pointers) and of a 4 KiB pread from a file in the image,
// under the supervisor (LKL fds), next to the same calls on host fds and
// in-process sys.Syscall on LKL. The metrics are the medians in ns.
func BenchmarkCall(b *testing.B) {
	k := lklKernel(b)
	hostFile := os.Args[0]
	run := func(o *supervise.Options, file string) (fc, rd float64) {
		var out strings.Builder
		env := append(os.Environ(), progEnv+"=bench", "BENCH_FILE="+file, "BENCH_N="+strconv.Itoa(max(b.N, 2000)))
		var code int
		var err error
		if o != nil {
			oo := *o
			oo.Stdout, oo.Env = &out, env
			code, err = supervise.Run(b.Context(), oo, []string{os.Args[0]})
		} else {
			cmd := exec(env)
			cmd.Stdout = &out
			err = cmd.Run()
		}
		require.NoError(b, err)
		require.Equal(b, 0, code)
		for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			name, v, _ := strings.Cut(line, " ")
			x, _ := strconv.ParseFloat(v, 64)
			if name == "fcntl" {
				fc = x
			} else {
				rd = x
			}
		}
		return fc, rd
	}
	o := lklOptions(k)
	for b.Loop() {
	}
	fc, rd := run(&o, lklMount+"/big.bin")
	hfc, hrd := run(nil, hostFile)
	// in-process on LKL
	p, _ := unix.BytePtrFromString(lklMount + "/big.bin")
	f, _, e := sys.SyscallOn(k, unix.SYS_OPENAT, uintptr(atFDCWD), uintptr(unsafe.Pointer(p)), unix.O_RDONLY, 0, 0, 0)
	require.Zero(b, e)
	defer sys.SyscallOn(k, unix.SYS_CLOSE, f, 0, 0, 0, 0, 0)
	buf := make([]byte, 4096)
	inproc := func(call func()) float64 {
		d := make([]time.Duration, 2000)
		for i := range d {
			t0 := time.Now()
			call()
			d[i] = time.Since(t0)
		}
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		return float64(d[len(d)/2].Nanoseconds())
	}
	ifc := inproc(func() { sys.SyscallOn(k, unix.SYS_FCNTL, f, unix.F_GETFL, 0, 0, 0, 0) })
	ird := inproc(func() { sys.SyscallOn(k, unix.SYS_PREAD64, f, uintptr(unsafe.Pointer(&buf[0])), 4096, 0, 0, 0) })
	b.ReportMetric(fc, "supervised-fcntl-ns")
	b.ReportMetric(rd, "supervised-pread4k-ns")
	b.ReportMetric(hfc, "host-fcntl-ns")
	b.ReportMetric(hrd, "host-pread4k-ns")
	b.ReportMetric(ifc, "inproc-lkl-fcntl-ns")
	b.ReportMetric(ird, "inproc-lkl-pread4k-ns")
}

// atFDCWD is AT_FDCWD as a variable, so that uintptr(atFDCWD) converts
// at run time.
var atFDCWD = unix.AT_FDCWD
