package usernet

import (
	"encoding/binary"
	"fmt"
	"net"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// DHCP (RFC 2131, 2132) message types and option codes the server uses.
const (
	dhcpDiscover = 1
	dhcpOffer    = 2
	dhcpRequest  = 3
	dhcpAck      = 5

	optSubnetMask = 1
	optRouter     = 3
	optDNS        = 6
	optLeaseTime  = 51
	optMsgType    = 53
	optServerID   = 54
	optEnd        = 255

	dhcpHeaderLen = 236 // up to the magic cookie
)

var dhcpMagic = []byte{99, 130, 83, 99}

// serveDHCP answers DHCP on port 67 until the Network closes: every client
// is offered Config.Guest with the network's mask, the gateway as router
// and the DNS forwarder (what the kernel's "ip=dhcp" needs). It is a
// minimal server for one guest: no leases are tracked.
func (n *Network) serveDHCP() error {
	var wq waiter.Queue
	ep, e := n.stack.NewEndpoint(udp.ProtocolNumber, ipv4.ProtocolNumber, &wq)
	if e != nil {
		return fmt.Errorf("usernet: dhcp: %s", e)
	}
	ep.SocketOptions().SetBroadcast(true)
	if e := ep.Bind(tcpip.FullAddress{NIC: nicID, Port: 67}); e != nil {
		ep.Close()
		return fmt.Errorf("usernet: dhcp: bind: %s", e)
	}
	c := gonet.NewUDPConn(&wq, ep)
	n.mu.Lock()
	n.conns[c] = struct{}{} // Close closes it
	n.wg.Add(1)
	n.mu.Unlock()
	go func() {
		defer n.untrack(c)
		defer c.Close()
		buf := make([]byte, 1500)
		for {
			k, _, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			if reply := n.dhcpReply(buf[:k]); reply != nil {
				bcast := &net.UDPAddr{IP: net.IPv4bcast, Port: 68}
				c.WriteTo(reply, bcast)
			}
		}
	}()
	return nil
}

// dhcpReply answers a DISCOVER with an OFFER and a REQUEST with an ACK;
// anything else gets nil.
func (n *Network) dhcpReply(req []byte) []byte {
	if len(req) < dhcpHeaderLen+4 || req[0] != 1 || string(req[dhcpHeaderLen:dhcpHeaderLen+4]) != string(dhcpMagic) {
		return nil
	}
	var kind byte
	switch dhcpOption(req[dhcpHeaderLen+4:], optMsgType) {
	case dhcpDiscover:
		kind = dhcpOffer
	case dhcpRequest:
		kind = dhcpAck
	default:
		return nil
	}
	r := make([]byte, dhcpHeaderLen, 300)
	r[0], r[1], r[2] = 2, 1, 6 // BOOTREPLY, Ethernet, 6-byte addresses
	copy(r[4:8], req[4:8])     // xid
	copy(r[10:12], req[10:12]) // flags
	guest, gw, dns := n.cfg.Guest.As4(), n.cfg.Gateway.As4(), n.cfg.DNS.As4()
	copy(r[16:20], guest[:]) // yiaddr
	copy(r[20:24], gw[:])    // siaddr
	copy(r[28:44], req[28:44])
	mask := net.CIDRMask(n.cfg.Prefix.Bits(), 32)
	lease := binary.BigEndian.AppendUint32(nil, uint32((24 * time.Hour).Seconds()))
	r = append(r, dhcpMagic...)
	r = append(r, optMsgType, 1, kind)
	r = append(r, optServerID, 4, gw[0], gw[1], gw[2], gw[3])
	r = append(r, optLeaseTime, 4, lease[0], lease[1], lease[2], lease[3])
	r = append(r, optSubnetMask, 4, mask[0], mask[1], mask[2], mask[3])
	r = append(r, optRouter, 4, gw[0], gw[1], gw[2], gw[3])
	r = append(r, optDNS, 4, dns[0], dns[1], dns[2], dns[3])
	return append(r, optEnd)
}

// dhcpOption returns the first byte of option code in opts, or 0.
func dhcpOption(opts []byte, code byte) byte {
	for i := 0; i < len(opts); {
		switch opts[i] {
		case 0:
			i++
			continue
		case optEnd:
			return 0
		}
		if i+1 >= len(opts) {
			return 0
		}
		l := int(opts[i+1])
		if opts[i] == code && l > 0 && i+2 < len(opts) {
			return opts[i+2]
		}
		i += 2 + l
	}
	return 0
}
