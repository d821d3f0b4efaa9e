package libgo_test

import (
	"fmt"
	"log"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/libgo"
)

// A TCP round trip over 127.0.0.1: listen on a port the kernel picks,
// connect, accept, and send a line each way.
func ExampleLibc_Socket() {
	var lc libgo.Libc // the zero Libc uses the process default kernel

	ln, err := lc.Socket(unix.AF_INET, unix.SOCK_STREAM, 0) // SOCK_CLOEXEC is added
	if err != nil {
		log.Fatal(err)
	}
	defer lc.Close(ln)
	if err := lc.Bind(ln, &libgo.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		log.Fatal(err)
	}
	if err := lc.Listen(ln, 1); err != nil {
		log.Fatal(err)
	}
	addr, err := lc.Getsockname(ln) // port 0 became a real one
	if err != nil {
		log.Fatal(err)
	}

	c, err := lc.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err != nil {
		log.Fatal(err)
	}
	defer lc.Close(c)
	if err := lc.Connect(c, addr); err != nil {
		log.Fatal(err)
	}
	s, peer, err := lc.Accept4(ln, 0)
	if err != nil {
		log.Fatal(err)
	}
	defer lc.Close(s)
	fmt.Println("peer address:", peer.(*libgo.SockaddrInet4).Addr)

	buf := make([]byte, 64)
	if _, err := lc.Sendto(c, []byte("ping"), 0, nil); err != nil {
		log.Fatal(err)
	}
	n, _, err := lc.Recvfrom(s, buf, 0)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("server got %q\n", buf[:n])

	if _, err := lc.Sendto(s, []byte("pong"), 0, nil); err != nil {
		log.Fatal(err)
	}
	n, _, err = lc.Recvfrom(c, buf, 0)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("client got %q\n", buf[:n])
	// Output:
	// peer address: [127 0 0 1]
	// server got "ping"
	// client got "pong"
}
