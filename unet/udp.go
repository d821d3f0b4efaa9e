package unet

import (
	"net"
	"net/netip"

	"github.com/gokernel/gokernel/libgo"
)

// UDPConn is a UDP socket on a Stack's kernel, connected (Dial) or not
// (ListenPacket): net.Conn and net.PacketConn plus net.UDPConn's
// address-typed methods. Every read returns one datagram; a datagram
// longer than the buffer is cut, and ReadMsgUDP reports MSG_TRUNC then.
type UDPConn struct {
	conn
}

// ReadFrom reads one datagram and returns its sender.
func (c *UDPConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, addr, err := c.ReadFromUDP(b)
	if addr == nil {
		return n, nil, err
	}
	return n, addr, err
}

// ReadFromUDP reads one datagram and returns its sender.
func (c *UDPConn) ReadFromUDP(b []byte) (int, *net.UDPAddr, error) {
	n, sa, err := c.fd.readFrom(b)
	if err != nil {
		return 0, nil, c.opError("read", err)
	}
	a, _ := sockaddrToAddr(c.fd.net, sa).(*net.UDPAddr)
	return n, a, nil
}

// ReadFromUDPAddrPort reads one datagram and returns its sender without
// allocating.
func (c *UDPConn) ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error) {
	n, sa, err := c.fd.readFrom(b)
	if err != nil {
		return 0, netip.AddrPort{}, c.opError("read", err)
	}
	return n, libgo.AddrPort(sa), nil
}

// ReadMsgUDP reads one datagram and its control messages: flags holds
// MSG_TRUNC when the datagram was longer than b, MSG_CTRUNC when the
// control messages were longer than oob.
func (c *UDPConn) ReadMsgUDP(b, oob []byte) (n, oobn, flags int, addr *net.UDPAddr, err error) {
	n, oobn, flags, sa, err := c.fd.readMsg(b, oob, 0)
	if err != nil {
		return 0, 0, 0, nil, c.opError("read", err)
	}
	addr, _ = sockaddrToAddr(c.fd.net, sa).(*net.UDPAddr)
	return n, oobn, flags, addr, nil
}

// WriteTo sends b as one datagram to addr, a *net.UDPAddr.
func (c *UDPConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	sa, err := addrToSockaddr(c.fd.family, addr)
	if err != nil {
		return 0, c.writeToError(addr, err)
	}
	n, _, err := c.fd.writeMsg(b, nil, sa)
	return n, c.writeToError(addr, err)
}

// WriteToUDP sends b as one datagram to addr.
func (c *UDPConn) WriteToUDP(b []byte, addr *net.UDPAddr) (int, error) {
	return c.WriteTo(b, addr)
}

// WriteToUDPAddrPort sends b as one datagram to addr.
func (c *UDPConn) WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	sa, err := addrPortToSockaddr(c.fd.family, addr)
	if err == nil {
		var n int
		if n, _, err = c.fd.writeMsg(b, nil, sa); err == nil {
			return n, nil
		}
	}
	return 0, &net.OpError{Op: "write", Net: c.fd.net, Source: c.fd.laddr, Addr: net.UDPAddrFromAddrPort(addr), Err: err}
}

// WriteMsgUDP sends b and the control messages oob as one datagram to
// addr, or to the connected peer when addr is nil.
func (c *UDPConn) WriteMsgUDP(b, oob []byte, addr *net.UDPAddr) (n, oobn int, err error) {
	var sa libgo.Sockaddr
	if addr != nil {
		if sa, err = addrToSockaddr(c.fd.family, addr); err != nil {
			return 0, 0, c.writeToError(addr, err)
		}
	}
	n, oobn, err = c.fd.writeMsg(b, oob, sa)
	if addr == nil {
		return n, oobn, c.opError("write", err)
	}
	return n, oobn, c.writeToError(addr, err)
}

func (c *UDPConn) writeToError(addr net.Addr, err error) error {
	if err == nil {
		return nil
	}
	return &net.OpError{Op: "write", Net: c.fd.net, Source: c.fd.laddr, Addr: addr, Err: err}
}
