//go:build lkl

package isolated_test

import (
	"encoding/binary"
	"io"
	"net"
	"net/netip"
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

// sockaddr is addr as the kernel takes it.
func sockaddr(addr netip.AddrPort) unix.RawSockaddrInet4 {
	sa := unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: addr.Addr().As4()}
	binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:], addr.Port())
	return sa
}

// connectFrom connects a TCP socket in k to addr and returns the errno,
// and, on success, reads what the peer sends.
func connectFrom(t *testing.T, k sys.Kernel, addr netip.AddrPort) (string, syscall.Errno) {
	t.Helper()
	fd, _, e := sys.SyscallOn(k, unix.SYS_SOCKET, unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0, 0, 0, 0)
	if e != 0 {
		t.Fatalf("socket: %v", e)
	}
	defer sys.SyscallOn(k, unix.SYS_CLOSE, fd, 0, 0, 0, 0, 0)
	sa := sockaddr(addr)
	if _, _, e := sys.SyscallOn(k, unix.SYS_CONNECT, fd, uintptr(unsafe.Pointer(&sa)), unix.SizeofSockaddrInet4, 0, 0, 0); e != 0 {
		return "", e
	}
	buf := make([]byte, 64)
	n, _, e := sys.SyscallOn(k, unix.SYS_READ, fd, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0, 0, 0)
	return string(buf[:n]), e
}

// TestUserNetwork: an isolated kernel's user network runs in this process
// (the child has only its end of the socketpair) and is restricted unless
// its configuration says otherwise (a connection to a host listener
// through 10.0.2.2 is refused); with restrict off the NAT reaches it, and
// a configured port forward reaches a listener in LKL.
func TestUserNetwork(t *testing.T) {
	defer goleak.VerifyNone(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, "host says hi")
			c.Close()
		}
	}()
	dst := netip.AddrPortFrom(netip.MustParseAddr("10.0.2.2"), uint16(l.Addr().(*net.TCPAddr).Port))

	k := start(t, &lkl.Config{Interfaces: []lkl.Interface{{Type: "user"}}})
	if _, e := connectFrom(t, k, dst); e != unix.ECONNREFUSED {
		t.Errorf("isolated, restrict left out: connect %v: %v, want ECONNREFUSED", dst, e)
	}
	if err := k.Halt(); err != nil {
		t.Fatal(err)
	}

	k = start(t, &lkl.Config{Interfaces: []lkl.Interface{{Type: "user", Restrict: "off"}}, Forward: []string{"tcp:127.0.0.1:0:80"}})
	checkForward(t, k)
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, e := connectFrom(t, k, dst)
		if e == 0 && got == "host says hi" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("isolated, restrict off: connect %v: %q, %v", dst, got, e)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := k.Halt(); err != nil {
		t.Fatal(err)
	}
}

// checkForward listens on port 80 in k and checks that a connection to the
// configuration's first forward reaches it.
func checkForward(t *testing.T, k *isolated.Kernel) {
	t.Helper()
	fd, _, e := sys.SyscallOn(k, unix.SYS_SOCKET, unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0, 0, 0, 0)
	if e != 0 {
		t.Fatalf("socket: %v", e)
	}
	defer sys.SyscallOn(k, unix.SYS_CLOSE, fd, 0, 0, 0, 0, 0)
	sa := sockaddr(netip.MustParseAddrPort("0.0.0.0:80"))
	if _, _, e := sys.SyscallOn(k, unix.SYS_BIND, fd, uintptr(unsafe.Pointer(&sa)), unix.SizeofSockaddrInet4, 0, 0, 0); e != 0 {
		t.Fatalf("bind: %v", e)
	}
	if _, _, e := sys.SyscallOn(k, unix.SYS_LISTEN, fd, 8, 0, 0, 0, 0); e != 0 {
		t.Fatalf("listen: %v", e)
	}
	done := make(chan syscall.Errno, 1)
	go func() {
		c, _, e := sys.SyscallOn(k, unix.SYS_ACCEPT4, fd, 0, 0, unix.SOCK_CLOEXEC, 0, 0)
		if e == 0 {
			msg := []byte("lkl says hi")
			_, _, e = sys.SyscallOn(k, unix.SYS_WRITE, c, uintptr(unsafe.Pointer(&msg[0])), uintptr(len(msg)), 0, 0, 0)
			sys.SyscallOn(k, unix.SYS_CLOSE, c, 0, 0, 0, 0, 0)
		}
		done <- e
	}()
	if len(k.Forwards()) != 1 {
		t.Fatalf("forwards: %v", k.Forwards())
	}
	c, err := net.Dial("tcp", k.Forwards()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "lkl says hi" {
		t.Fatalf("through the forward: %q, %v", got, err)
	}
	if e := <-done; e != 0 {
		t.Fatalf("accept or write in LKL: %v", e)
	}
}
