package eloop_test

import (
	"context"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/eloop"
	"github.com/gokernel/gokernel/libgo"
	"github.com/gokernel/gokernel/sys"
)

// echoHandler writes back what it reads; BuiltinHandler gives it the
// callbacks it leaves out.
type echoHandler struct{ eloop.BuiltinHandler }

func (echoHandler) OnData(c *eloop.Conn, data []byte) eloop.Action {
	c.Write(data) // an error means c is closing; OnClose follows
	return eloop.None
}

// ExampleListen runs an echo server on the host kernel and sends it one
// message through a blocking client socket.
func ExampleListen() {
	k := sys.Host()
	s, err := eloop.Listen(k, "127.0.0.1:0", echoHandler{}, eloop.ServerOptions{Loops: 2})
	if err != nil {
		fmt.Println(err)
		return
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(context.Background()) }()

	lc := libgo.New(k)
	fd, err := lc.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer lc.Close(fd)
	a := s.Addr()
	if err := lc.Connect(fd, &libgo.SockaddrInet4{Port: int(a.Port()), Addr: a.Addr().As4()}); err != nil {
		fmt.Println(err)
		return
	}
	msg := []byte("hello, loop")
	lc.Write(fd, msg)
	buf := make([]byte, len(msg))
	for got := 0; got < len(buf); {
		n, err := lc.Read(fd, buf[got:])
		if err != nil || n == 0 {
			fmt.Println("read:", n, err)
			return
		}
		got += n
	}
	fmt.Printf("echo: %s\n", buf)

	s.Close()
	fmt.Println("Serve:", <-done)
	// Output:
	// echo: hello, loop
	// Serve: <nil>
}
