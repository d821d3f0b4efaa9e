// Package usernet is a rootless user-mode network for a guest kernel, in
// the manner of QEMU's -netdev user, slirp4netns and gvisor-tap-vsock.
//
// The guest (LKL, in gokernel) gets an Ethernet device whose frames travel
// over one end of a socketpair(AF_UNIX, SOCK_DGRAM), one datagram per
// frame. usernet owns the other end and runs gVisor's netstack on it
// (link/fdbased with an Ethernet header). A frame that finds the
// socketpair full waits until the guest reads (up to a second), as LKL's
// frames do the other way, instead of being dropped: a drop costs TCP a
// retransmission timeout. The netstack plays the router of a private
// network, by default QEMU's:
//
//	10.0.2.0/24   the guest's network
//	10.0.2.2      gateway; TCP and UDP to it reach the host's loopback
//	10.0.2.3      DNS forwarder to the host's resolver (/etc/resolv.conf)
//	10.0.2.15     the guest, target of port forwards
//
// Outbound TCP from the guest is NATed: a TCP forwarder accepts each SYN,
// dials the destination with the standard net package and splices the two
// connections with half-close, resets and backpressure propagated. UDP
// flows get a host socket each and end after an idle timeout. Pings to the
// gateway and DNS addresses are answered by the netstack, pings to other
// addresses are sent from a host ping (or raw) socket. A minimal DHCP
// server offers the guest its address (for the kernel's ip=dhcp). Port
// forwards (Network.Forward) accept connections on a host address and dial
// the guest through the netstack. Config.Policy restricts what the guest
// may reach through the NAT (QEMU's restrict, plus an allow list of
// destinations); forwards are never restricted.
//
// usernet sits beside sys/lkl, in the sys layer: it is pure Go (no cgo),
// imports only the standard library, golang.org/x/sys/unix and gVisor, and
// never makes system calls on a guest kernel. sys/lkl creates a Network for
// each interface of type "user"; programs use it for port forwarding.
package usernet
