//go:build lkl && amd64

package supervise_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net"
	"os"
	osexec "os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/supervise"
	"github.com/gokernel/gokernel/sys"
)

func init() {
	programs["bridge-bulk"] = progBridgeBulk
	programs["bridge-storm"] = progBridgeStorm
	programs["bridge-sockets"] = progBridgeSockets
	programs["bridge-fds"] = progBridgeFDs
	programs["bridge-child"] = progBridgeChild
	programs["bridge-ready"] = progBridgeReady
	programs["bridge-errors"] = progBridgeErrors
}

// runBridged runs test program name with bridged sockets on the test's
// LKL, checking for fd leaks on both kernels, and returns the trace.
func runBridged(t *testing.T, name string) string {
	t.Helper()
	k := lklKernel(t)
	kerneltest.CheckFDs(t, k)
	kerneltest.CheckFDs(t, sys.Host())
	o := lklOptions(k)
	o.Sockets = supervise.SocketsBridge
	return runTraced(t, o, name)
}

// TestRunBridgeBulk: 12 MiB each way through a bridged connection on
// LKL's loopback, byte-exact, with half-closes both ways; then a client
// that writes 4 MiB and closes at once (the data in flight still
// arrives). The reads and writes are host calls: the trace has none.
func TestRunBridgeBulk(t *testing.T) {
	trace := runBridged(t, "bridge-bulk")
	if os.Getenv("BRIDGE_TRACE") != "" {
		t.Log(trace)
	}
	require.Contains(t, trace, "connect(")
	require.Contains(t, trace, "accept4(")
	for _, line := range strings.Split(trace, "\n") {
		require.False(t, strings.Contains(line, "] read(") || strings.Contains(line, "] write("), "a bridged read or write went to the supervisor: %s", line)
	}
}

// lklListen listens on LKL's loopback (under the supervisor, net.Listen
// is LKL's) and returns the listener and its address; with serve, each
// connection is served by it in a goroutine of its own, and closed after.
func lklListen(serve func(net.Conn)) (net.Listener, string, error) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	if serve != nil {
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					serve(c)
				}()
			}
		}()
	}
	return ln, ln.Addr().String(), nil
}

func progBridgeBulk() error {
	// Echo server: echoes until the client's end, then ends its side.
	ln, addr, err := lklListen(func(c net.Conn) { io.Copy(c, c) })
	if err != nil {
		return err
	}
	defer ln.Close()
	const size = 12 << 20
	data := make([]byte, size)
	rand.New(rand.NewSource(1)).Read(data)
	c, err := net.Dial("tcp4", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if la := c.LocalAddr().(*net.TCPAddr); !la.IP.Equal(net.IPv4(127, 0, 0, 1)) {
		return fmt.Errorf("local address %v: not LKL's loopback", la)
	}
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(data)
		if err == nil {
			err = c.(*net.TCPConn).CloseWrite() // half-close: the echo ends after the data
		}
		werr <- err
	}()
	got, err := io.ReadAll(c)
	if err != nil {
		return fmt.Errorf("reading the echo: %w", err)
	}
	if err := <-werr; err != nil {
		return fmt.Errorf("writing: %w", err)
	}
	if len(got) != size || sha256.Sum256(got) != sha256.Sum256(data) {
		return fmt.Errorf("echo of %d bytes: %d bytes back, differing", size, len(got))
	}

	// A client that writes 4 MiB and closes at once: every byte arrives.
	const size2 = 4 << 20
	sums := make(chan [32]byte, 1)
	ln2, addr2, err := lklListen(func(c net.Conn) {
		b, _ := io.ReadAll(c)
		sums <- sha256.Sum256(b)
	})
	if err != nil {
		return err
	}
	defer ln2.Close()
	c2, err := net.Dial("tcp4", addr2)
	if err != nil {
		return err
	}
	if _, err := c2.Write(data[:size2]); err != nil {
		return err
	}
	c2.Close()
	if <-sums != sha256.Sum256(data[:size2]) {
		return errors.New("a client's data written just before its close did not all arrive")
	}
	return nil
}

// TestRunBridgeStorm: 200 connections at once, each a request and its
// answer.
func TestRunBridgeStorm(t *testing.T) {
	runBridged(t, "bridge-storm")
}

// TestRunBridgeStormSlowStart: the storm again, with every bridge's
// pumps slow to start (1 ms between the loops taking over its flows and
// startPumps running them itself), so the program reads its request,
// answers and closes its end, and the bridge ends, while the accept that
// made it is still starting its pumps. That call must not use the
// bridge's fds once it has ended: their numbers belong to the next
// sockets by then (it did, and crossed connections: a server read the
// end of the stream before its request, or a pump blocked in a read of
// another connection's socket).
func TestRunBridgeStormSlowStart(t *testing.T) {
	defer supervise.SetTestHookPumping(func() { time.Sleep(time.Millisecond) })()
	runBridged(t, "bridge-storm")
}

func progBridgeStorm() error {
	ln, addr, err := lklListen(func(c net.Conn) {
		b := make([]byte, 64)
		n, _ := io.ReadAtLeast(c, b, 1)
		c.Write(append([]byte("re:"), b[:n]...))
	})
	if err != nil {
		return err
	}
	defer ln.Close()
	const n = 200
	errs := make(chan error, n)
	for i := range n {
		go func() {
			c, err := net.Dial("tcp4", addr)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			msg := fmt.Sprintf("hello %d", i)
			if _, err := c.Write([]byte(msg)); err != nil {
				errs <- err
				return
			}
			got, err := io.ReadAll(c)
			if err == nil && string(got) != "re:"+msg {
				err = fmt.Errorf("got %q for %q", got, msg)
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			return err
		}
	}
	return nil
}

// TestRunAddfdSignals: signals reach the supervisor's thread while it
// hands the program a new socket (SECCOMP_IOCTL_NOTIF_ADDFD answering the
// call), as Go's runtime sends them to its threads at any time: each of
// 1,000 socket calls must still return a socket, never a number the
// program was not given. Without the signals blocked during the ioctl,
// an interrupted one left the call answered with 0 (stdin) and the
// bridge unconnected to any fd of the program.
func TestRunAddfdSignals(t *testing.T) {
	pid := os.Getpid()
	defer supervise.SetTestHookAddFD(func() {
		tid := unix.Gettid()
		d := time.Duration(rand.Intn(60)) * time.Microsecond
		go func() {
			for start := time.Now(); time.Since(start) < d; {
			}
			unix.Tgkill(pid, tid, unix.SIGURG) // Go's runtime takes it and goes on
		}()
	})()
	runBridged(t, "bridge-sockets")
}

// progBridgeSockets makes and closes 1,000 TCP sockets (bridged), each
// checked to be a new socket of the program's.
func progBridgeSockets() error {
	for i := range 1000 {
		fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("socket %d: %w", i, err)
		}
		var st syscall.Stat_t
		if fd <= 2 {
			return fmt.Errorf("socket %d: got fd %d, one the program already had", i, fd)
		}
		if err := syscall.Fstat(fd, &st); err != nil || st.Mode&syscall.S_IFMT != syscall.S_IFSOCK {
			return fmt.Errorf("socket %d: fd %d is not a socket (mode %#o, %v)", i, fd, st.Mode, err)
		}
		syscall.Close(fd)
	}
	return nil
}

// TestRunBridgeFDs: a bridged socket is a host fd (below 2^20, a socket
// to fstat) whose names, options and socket ioctls are LKL's (but
// SO_RCVTIMEO, the host end's); sendto with an address works, MSG_OOB is
// refused; a dup keeps the
// connection when the first number is closed; a child process (fork and
// exec) inherits it and talks over it.
func TestRunBridgeFDs(t *testing.T) {
	runBridged(t, "bridge-fds")
}

func progBridgeFDs() error {
	ln, addr, err := lklListen(nil)
	if err != nil {
		return err
	}
	defer ln.Close()
	srv := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		srv <- c
	}()
	c, err := net.Dial("tcp4", addr)
	if err != nil {
		return err
	}
	s := <-srv
	if s == nil {
		return errors.New("no connection accepted")
	}
	defer s.Close()
	f, err := c.(*net.TCPConn).File() // a dup, blocking
	c.Close()                         // the first number: the connection stays
	if err != nil {
		return err
	}
	defer f.Close()
	fd := int(f.Fd())
	if fd >= fdBase {
		return fmt.Errorf("bridged fd %d: not a host fd", fd)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return fmt.Errorf("fstat of the bridged fd: %v, mode %o", err, st.Mode)
	}
	if typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN); err != nil || typ != unix.AF_INET {
		return fmt.Errorf("SO_DOMAIN: %d, %v (want LKL's AF_INET)", typ, err)
	}
	peer, err := unix.Getpeername(fd)
	if sa, ok := peer.(*unix.SockaddrInet4); err != nil || !ok || sa.Port != ln.Addr().(*net.TCPAddr).Port {
		return fmt.Errorf("getpeername: %v, %v", peer, err)
	}
	// A socket ioctl is LKL's: SIOCGIFCONF lists LKL's interfaces (the
	// test's LKL has only lo), not the host's.
	if names, err := ifNames(fd); err != nil || strings.Join(names, ",") != "lo" {
		return fmt.Errorf("SIOCGIFCONF on the bridged fd: %q, %v; want LKL's [lo]", names, err)
	}
	// SO_RCVTIMEO is the host end's: a read with nothing to read times out.
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 50000}); err != nil {
		return fmt.Errorf("SO_RCVTIMEO: %w", err)
	}
	if n, err := unix.Read(fd, make([]byte, 1)); err != unix.EAGAIN {
		return fmt.Errorf("read with SO_RCVTIMEO and nothing to read: %d, %v; want EAGAIN", n, err)
	}
	if _, err := f.Write([]byte("via dup\n")); err != nil {
		return err
	}
	if err := readLine(s, "via dup\n"); err != nil {
		return err
	}
	// sendto with an address: TCP ignores it on a connected socket.
	if err := unix.Sendto(fd, []byte("with an address\n"), 0, peer); err != nil {
		return fmt.Errorf("sendto with an address: %w", err)
	}
	if err := readLine(s, "with an address\n"); err != nil {
		return err
	}
	if err := unix.Sendto(fd, []byte("!"), unix.MSG_OOB, nil); err != unix.EOPNOTSUPP {
		return fmt.Errorf("MSG_OOB on a bridge: %v, want EOPNOTSUPP", err)
	}
	// A child inherits the fd (fork and exec) and answers on it.
	cmd := osexec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), progEnv+"=bridge-child")
	cmd.ExtraFiles = []*os.File{f}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	if _, err := s.Write([]byte("ping\n")); err != nil {
		return err
	}
	if err := readLine(s, "pong from the child\n"); err != nil {
		return err
	}
	return cmd.Wait()
}

// ifNames returns the interfaces SIOCGIFCONF on fd lists.
func ifNames(fd int) ([]string, error) {
	const ifreqSize = 40
	buf := make([]byte, 16*ifreqSize)
	ifc := &struct { // struct ifconf; on the heap, which does not move
		len int32
		_   int32
		buf uintptr
	}{len: int32(len(buf)), buf: uintptr(unsafe.Pointer(&buf[0]))}
	_, e := raw(unix.SYS_IOCTL, uintptr(fd), unix.SIOCGIFCONF, uintptr(unsafe.Pointer(ifc)))
	runtime.KeepAlive(buf)
	if e != 0 {
		return nil, e
	}
	var names []string
	for off := 0; off+ifreqSize <= int(ifc.len); off += ifreqSize {
		names = append(names, unix.ByteSliceToString(buf[off:off+16]))
	}
	return names, nil
}

// progBridgeChild answers "ping\n" on fd 3, which it inherited.
func progBridgeChild() error {
	f := os.NewFile(3, "conn")
	defer f.Close()
	b := make([]byte, 5)
	if _, err := io.ReadFull(f, b); err != nil || string(b) != "ping\n" {
		return fmt.Errorf("the child read %q, %v", b, err)
	}
	_, err := f.Write([]byte("pong from the child\n"))
	return err
}

func readLine(c net.Conn, want string) error {
	b := make([]byte, len(want))
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c, b); err != nil || string(b) != want {
		return fmt.Errorf("read %q, %v; want %q", b, err, want)
	}
	return nil
}

// TestRunBridgeReady: a bridged listener is readable to poll, select and
// epoll exactly when LKL has a connection waiting; a blocking accept
// waits for one.
func TestRunBridgeReady(t *testing.T) {
	runBridged(t, "bridge-ready")
}

func progBridgeReady() error {
	ls, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(ls)
	if err := unix.Bind(ls, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		return err
	}
	if err := unix.Listen(ls, 16); err != nil {
		return err
	}
	sa, err := unix.Getsockname(ls)
	if err != nil {
		return err
	}
	port := sa.(*unix.SockaddrInet4).Port
	ready := func() (p, s, e bool, err error) {
		pfd := []unix.PollFd{{Fd: int32(ls), Events: unix.POLLIN}}
		if _, err := unix.Poll(pfd, 0); err != nil {
			return false, false, false, err
		}
		var set unix.FdSet
		set.Set(ls)
		if _, err := unix.Select(ls+1, &set, nil, nil, &unix.Timeval{}); err != nil {
			return false, false, false, err
		}
		ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		if err != nil {
			return false, false, false, err
		}
		defer unix.Close(ep)
		unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, ls, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(ls)})
		evs := make([]unix.EpollEvent, 1)
		n, err := unix.EpollWait(ep, evs, 0)
		return pfd[0].Revents&unix.POLLIN != 0, set.IsSet(ls), n == 1, err
	}
	if p, s, e, err := ready(); err != nil || p || s || e {
		return fmt.Errorf("listener with nothing waiting: poll %v select %v epoll %v (%v)", p, s, e, err)
	}
	dial := func() (int, error) {
		c, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return -1, err
		}
		return c, unix.Connect(c, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}, Port: port})
	}
	c1, err := dial()
	if err != nil {
		return err
	}
	defer unix.Close(c1)
	// LKL has it waiting; the token follows soon after.
	pfd := []unix.PollFd{{Fd: int32(ls), Events: unix.POLLIN}}
	if n, err := unix.Poll(pfd, 10000); n != 1 || err != nil {
		return fmt.Errorf("poll for a waiting connection: %d, %v", n, err)
	}
	if p, s, e, err := ready(); err != nil || !p || !s || !e {
		return fmt.Errorf("listener with a connection waiting: poll %v select %v epoll %v (%v)", p, s, e, err)
	}
	a1, _, err := unix.Accept4(ls, unix.SOCK_CLOEXEC)
	if err != nil {
		return err
	}
	unix.Close(a1)
	if p, s, e, err := ready(); err != nil || p || s || e {
		return fmt.Errorf("listener after its one connection was accepted: poll %v select %v epoll %v (%v)", p, s, e, err)
	}
	// A blocking accept waits for the next connection.
	done := make(chan error, 1)
	go func() {
		time.Sleep(100 * time.Millisecond)
		c2, err := dial()
		if err == nil {
			unix.Close(c2)
		}
		done <- err
	}()
	a2, _, err := unix.Accept4(ls, unix.SOCK_CLOEXEC)
	if err != nil {
		return fmt.Errorf("blocking accept: %w", err)
	}
	unix.Close(a2)
	if err := <-done; err != nil {
		return err
	}
	// Non-blocking, with nothing waiting: EAGAIN.
	unix.SetNonblock(ls, true)
	if _, _, err := unix.Accept4(ls, 0); err != unix.EAGAIN {
		return fmt.Errorf("non-blocking accept with nothing waiting: %v, want EAGAIN", err)
	}
	return nil
}

// TestRunBridgeErrors: connect to a closed port is LKL's ECONNREFUSED, to
// an address LKL has no route to its ENETUNREACH (the test's LKL has no
// network but loopback); a non-blocking connect waits for the answer
// too. The peer's reset is the end of the stream for the program.
func TestRunBridgeErrors(t *testing.T) {
	runBridged(t, "bridge-errors")
}

func progBridgeErrors() error {
	connect := func(addr [4]byte, port int, flags int) error {
		c, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|flags, 0)
		if err != nil {
			return err
		}
		defer unix.Close(c)
		return unix.Connect(c, &unix.SockaddrInet4{Addr: addr, Port: port})
	}
	// A port nobody listens on: one bound by a socket that does not
	// listen (a closed listener's LKL socket closes only once the
	// supervisor has seen the close: docs/run.md).
	bound, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(bound)
	if err := unix.Bind(bound, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		return err
	}
	sa, err := unix.Getsockname(bound)
	if err != nil {
		return err
	}
	port := sa.(*unix.SockaddrInet4).Port
	if err := connect([4]byte{127, 0, 0, 1}, port, 0); err != unix.ECONNREFUSED {
		return fmt.Errorf("connect to a closed port: %v, want ECONNREFUSED", err)
	}
	if err := connect([4]byte{127, 0, 0, 1}, port, unix.SOCK_NONBLOCK); err != unix.ECONNREFUSED {
		return fmt.Errorf("non-blocking connect to a closed port: %v, want ECONNREFUSED", err)
	}
	if err := connect([4]byte{192, 0, 2, 1}, 80, 0); err != unix.ENETUNREACH {
		return fmt.Errorf("connect with no route: %v, want ENETUNREACH", err)
	}
	// A reset by the peer (SO_LINGER 0): the program reads the end.
	ln, addr, err := lklListen(func(c net.Conn) { c.(*net.TCPConn).SetLinger(0) })
	if err != nil {
		return err
	}
	defer ln.Close()
	c, err := net.Dial("tcp4", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := c.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		return fmt.Errorf("read after the peer's reset: %d, %v; want EOF", n, err)
	}
	// Writes then fail (EPIPE), at the latest once the bridge saw LKL refuse.
	var werr error
	for range 100 {
		if _, werr = c.Write(bytes.Repeat([]byte("x"), 4096)); werr != nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !errors.Is(werr, syscall.EPIPE) {
		return fmt.Errorf("write after the peer's reset: %v, want EPIPE", werr)
	}
	return nil
}
