package unet_test

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/libgo"
	"github.com/gokernel/gokernel/unet"
)

// Dial connects; a host name would be looked up through the kernel's own
// hosts file and DNS.
func ExampleDial() {
	ln, err := unet.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ln.Close()
	c, err := unet.Dial("tcp", ln.Addr().String())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	fmt.Printf("%T\n", c)
	// Output: *unet.TCPConn
}

// WriteMsgUnix passes an fd of the kernel with SCM_RIGHTS.
func ExampleUnixConn_WriteMsgUnix() {
	dir, _ := os.MkdirTemp("", "unet-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "sock")
	pc, err := unet.ListenPacket("unixgram", path)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer pc.Close()
	c, err := unet.Dial("unixgram", path)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	p, _ := libgo.Pipe2(unix.O_CLOEXEC) // the fd to pass, and a way to check it
	defer libgo.Close(p[0])
	defer libgo.Close(p[1])
	c.(*unet.UnixConn).WriteMsgUnix([]byte("here"), unix.UnixRights(p[1]), nil)

	buf, oob := make([]byte, 8), make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, _ := pc.(*unet.UnixConn).ReadMsgUnix(buf, oob)
	msgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
	fds, _ := unix.ParseUnixRights(&msgs[0])
	libgo.Write(fds[0], []byte("through the passed fd"))
	libgo.Close(fds[0])
	got := make([]byte, 64)
	m, _ := libgo.Read(p[0], got)
	fmt.Println(string(buf[:n]), len(fds), string(got[:m]))
	// Output: here 1 through the passed fd
}

// ReadFrom (io.Copy's fast path) splices between two sockets of one
// Stack inside the kernel.
func ExampleTCPConn_ReadFrom() {
	ln, _ := unet.Listen("tcp4", "127.0.0.1:0")
	defer ln.Close()
	dial := func() (a, b *unet.TCPConn) {
		c, _ := unet.Dial("tcp4", ln.Addr().String())
		s, _ := ln.Accept()
		return c.(*unet.TCPConn), s.(*unet.TCPConn)
	}
	src, feed := dial()
	dst, sink := dial()
	defer src.Close()
	defer feed.Close()
	defer dst.Close()
	defer sink.Close()

	go func() { io.WriteString(feed, "spliced"); feed.CloseWrite() }()
	n, err := dst.ReadFrom(src)
	dst.CloseWrite()
	got, _ := io.ReadAll(sink)
	fmt.Println(n, err, string(got))
	// Output: 7 <nil> spliced
}
