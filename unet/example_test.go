package unet_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/gokernel/gokernel/eloop"
	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/unet"
)

// Listen and Dial work like net's, on the process default kernel.
func ExampleListen() {
	ln, err := unet.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c) // echo
	}()

	c, err := unet.Dial("tcp", ln.Addr().String())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	fmt.Fprint(c, "hello")
	c.(*unet.TCPConn).CloseWrite()
	reply, _ := io.ReadAll(c)
	fmt.Println(string(reply))
	// Output: hello
}

// DialContext is what an http.Transport needs: net/http then runs on the
// kernel's TCP stack.
func ExampleDialContext() {
	ln, err := unet.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s", r.URL.Path)
	})}
	go srv.Serve(ln)
	defer srv.Close()

	tr := &http.Transport{DialContext: unet.DialContext}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get("http://" + ln.Addr().String() + "/unet")
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(string(body))
	// Output: hello from /unet
}

// ListenPacket gives a *UDPConn; each read returns one datagram.
func ExampleListenPacket() {
	pc, err := unet.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer pc.Close()
	c, err := unet.Dial("udp4", pc.LocalAddr().String())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	c.Write([]byte("one"))
	c.Write([]byte("two"))
	buf := make([]byte, 16)
	for range 2 {
		n, _, _ := pc.ReadFrom(buf)
		fmt.Println(string(buf[:n]))
	}
	// Output:
	// one
	// two
}

// New binds the same methods to an explicit kernel; with an LKL kernel
// (sys/lkl) the connection would run on LKL's TCP/IP stack.
func ExampleNew() {
	s, err := unet.New(sys.Host(), unet.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	ln, err := s.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ln.Close()
	c, err := s.Dial("tcp4", ln.Addr().String())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	fmt.Println(s.Kernel().Name(), c.RemoteAddr().String() == ln.Addr().String())
	// Output: host true
}

// With Options.Loop a Stack shares an eloop.Loop's poller and goroutine:
// a program built on the loop gets net.Conn values without a poller of
// their own. Blocking calls go on other goroutines; the Stack is closed
// before the Loop stops.
func ExampleNew_loop() {
	l, err := eloop.New(sys.Host(), eloop.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	ran := make(chan error, 1)
	go func() { ran <- l.Run(context.Background()) }()
	defer func() { l.Stop(); <-ran }()

	s, err := unet.New(nil, unet.Options{Loop: l}) // the Loop's kernel
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	ln, err := s.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	go func() {
		c, err := ln.Accept()
		if err == nil {
			io.Copy(c, c) // echo
			c.Close()
		}
	}()
	c, err := s.Dial("tcp4", ln.Addr().String())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	c.Write([]byte("hello"))
	buf := make([]byte, 5)
	_, err = io.ReadFull(c, buf)
	fmt.Println(string(buf), err)
	// Output: hello <nil>
}

// A Resolver reads the hosts file and resolv.conf through its Stack's
// kernel, and asks DNS over that kernel's network.
func ExampleResolver_LookupNetIP() {
	s, err := unet.New(nil, unet.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	ips, err := s.Resolver().LookupNetIP(context.Background(), "ip4", "localhost")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(ips[0])
	// Output: 127.0.0.1
}

// Deadlines behave as net's: a passed one is a timeout error.
func ExampleTCPConn_SetReadDeadline() {
	ln, _ := unet.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	c, err := unet.Dial("tcp", ln.Addr().String())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	c.SetReadDeadline(time0())
	_, err = c.Read(make([]byte, 1))
	var ne net.Error
	fmt.Println(strings.Contains(err.Error(), "i/o timeout"), asNetErr(err, &ne) && ne.Timeout())
	// Output: true true
}
