package usernet_test

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/sys/lkl/usernet"
)

func ExampleParseForward() {
	f, err := usernet.ParseForward("tcp:127.0.0.1:8080:80")
	if err != nil {
		panic(err)
	}
	fmt.Println(f.Network, f.Host, f.GuestPort)
	// Output: tcp 127.0.0.1:8080 80
}

// A user network on one end of a socketpair; the other end would be the
// guest's Ethernet device (sys/lkl hands it to LKL's virtio-net).
func ExampleNew() {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		panic(err)
	}
	defer unix.Close(fds[0])
	n, err := usernet.New(fds[1], usernet.Config{}) // QEMU's addresses
	if err != nil {
		panic(err)
	}
	defer n.Close()
	c := n.Config()
	fmt.Println("guest", c.Guest, "gateway", c.Gateway, "dns", c.DNS)
	// Output: guest 10.0.2.15 gateway 10.0.2.2 dns 10.0.2.3
}

// Forward a host port to the guest's port 80; port 0 picks a free one.
func ExampleNetwork_Forward() {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		panic(err)
	}
	defer unix.Close(fds[0])
	n, err := usernet.New(fds[1], usernet.Config{})
	if err != nil {
		panic(err)
	}
	defer n.Close()
	addr, err := n.Forward(usernet.Forward{Network: "tcp", Host: "127.0.0.1:0", GuestPort: 80})
	if err != nil {
		panic(err)
	}
	fmt.Println("listening on", addr.Network())
	// Output: listening on tcp
}
