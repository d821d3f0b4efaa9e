package aio_test

import (
	"fmt"
	"log"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/aio"
	"github.com/gokernel/gokernel/libgo"
)

// A pipe becomes readable once something is written to it; Wait reports it
// with the token it was added with.
func ExamplePoller() {
	p, err := aio.New(nil) // the default kernel: the host
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	fds, err := libgo.Pipe2(unix.O_NONBLOCK)
	if err != nil {
		log.Fatal(err)
	}
	defer libgo.Close(fds[0])
	defer libgo.Close(fds[1])

	if err := p.Add(fds[0], aio.Read|aio.RDHUP, 42); err != nil {
		log.Fatal(err)
	}
	if _, err := libgo.Write(fds[1], []byte("hello")); err != nil {
		log.Fatal(err)
	}
	events := make([]aio.Event, 8)
	n := 0
	for n == 0 { // Wait may return early with nothing: wait again
		if n, err = p.Wait(events, -1); err != nil {
			log.Fatal(err)
		}
	}
	for _, ev := range events[:n] {
		fmt.Println(ev.Token, ev.Events)
	}
	// Output: 42 Read
}

// Another goroutine ends a Wait that would otherwise block for good.
func ExamplePoller_Wake() {
	p, err := aio.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	go p.Wake()
	events := make([]aio.Event, 8)
	n, err := p.Wait(events, -1)
	fmt.Println(n, err)
	// Output: 0 <nil>
}

// After Close, every call, Close included, says fs.ErrClosed ("file
// already closed"); a Wait blocked at the time of Close says so too.
func ExamplePoller_Close() {
	p, err := aio.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.Close())
	fmt.Println(p.Close())
	// Output:
	// <nil>
	// file already closed
}

// Reads on a non-blocking fd report "would block" as a bool.
func ExampleNonblock() {
	nb := aio.NewNonblock(nil)
	fds, err := libgo.Pipe2(unix.O_NONBLOCK)
	if err != nil {
		log.Fatal(err)
	}
	defer libgo.Close(fds[0])
	defer libgo.Close(fds[1])

	buf := make([]byte, 16)
	_, wouldBlock, err := nb.Read(fds[0], buf)
	fmt.Println("empty:", wouldBlock, err)

	nb.Write(fds[1], []byte("data"))
	n, wouldBlock, err := nb.Read(fds[0], buf)
	fmt.Printf("%q %v %v\n", buf[:n], wouldBlock, err)
	// Output:
	// empty: true <nil>
	// "data" false <nil>
}

// Events print as the names of their bits.
func ExampleEvents_String() {
	fmt.Println(aio.Read | aio.RDHUP | aio.HUP)
	// Output: Read|RDHUP|HUP
}
