//go:build lkl

package lkl

// #include <stdlib.h>
// #include "gk.h"
import "C"

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"github.com/gokernel/gokernel/sys/host"
	"github.com/gokernel/gokernel/sys/lkl/usernet"
)

// defaultUserMAC is the MAC of LKL's device on a user network without a
// mac key (QEMU's default guest MAC).
var defaultUserMAC = []byte{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}

// A netdev is one of Config.Interfaces, attached to LKL.
type netdev struct {
	ifc  Interface
	id   C.int
	nd   *C.struct_lkl_netdev
	addr netip.Prefix // IPv4 address and mask length; invalid means none

	// For type "user": the network and its gateway, and whether the
	// kernel configures the address with DHCP (boot_cmdline ip=dhcp).
	user    *usernet.Network
	gateway netip.Addr
	dns     netip.Addr
	dhcp    bool
}

// addNetdevs attaches the configured interfaces; it runs before boot.
func (k *Kernel) addNetdevs() error {
	for i, ifc := range k.cfg.Interfaces {
		d, err := k.addNetdev(ifc)
		if err != nil {
			return fmt.Errorf("lkl config: interfaces[%d]: %w", i, err)
		}
		k.netdevs = append(k.netdevs, d)
	}
	return nil
}

// addNetdev gives LKL one virtio-net device: a socketpair end served by a
// user network, or a TAP device.
func (k *Kernel) addNetdev(ifc Interface) (*netdev, error) {
	if ifc.Qdisc != "" {
		// LKL 1.0.3's source keeps only net/sched/sch_generic.c and
		// sch_mq.c: no sch_api.c (the RTM_NEWQDISC netlink API that
		// lkl-hijack's qdisc key calls) and no fq, fq_codel or pfifo.
		return nil, errors.New("qdisc: no qdisc support in this LKL (its source has no net/sched/sch_api.c, so no qdisc can be added)")
	}
	d := &netdev{ifc: ifc, addr: ifc.prefix()}
	mac := defaultUserMAC
	if ifc.MAC != "" {
		mac, _ = net.ParseMAC(ifc.MAC)
	}
	offload, _ := parseNumber(ifc.Offload)

	fd := C.int(-1)
	var ifname *C.char
	switch ifc.Type {
	case "user":
		if !d.addr.IsValid() {
			d.addr = netip.PrefixFrom(usernet.DefaultGuest, usernet.DefaultPrefix.Bits())
			// With ip=dhcp the kernel asks the user network's DHCP
			// server (which offers this same address and the gateway)
			// while it boots, so setup leaves address and route alone.
			d.dhcp = strings.Contains(k.cfg.BootCmdline, "ip=dhcp")
		}
		// Frames above 1500 bytes reach LKL only in mergeable RX
		// buffers, so that bit is always on; the MTU defaults to 9000,
		// which measured fastest (docs/networking.md).
		offload |= 1 << virtioNetFMrgRxbuf
		if d.ifc.MTU == "" {
			d.ifc.MTU = strconv.Itoa(DefaultUserMTU)
		}
		h := k.cfg.Host
		ucfg := k.cfg.userNet(d.ifc, d.addr)
		d.gateway, d.dns = ucfg.Gateway, ucfg.DNS
		if ifc.ServedFD > 0 {
			// The network runs elsewhere (an isolated kernel's parent).
			if err := host.SetNonblock(h, ifc.ServedFD, true); err != nil {
				return nil, fmt.Errorf("served fd %d: O_NONBLOCK: %w", ifc.ServedFD, err)
			}
			fd = C.int(ifc.ServedFD)
			break
		}
		fds, err := UserSocketpair(h)
		if err != nil {
			return nil, err
		}
		if err := host.SetNonblock(h, fds[0], true); err != nil {
			host.Close(h, fds[0])
			host.Close(h, fds[1])
			return nil, fmt.Errorf("socketpair: O_NONBLOCK: %w", err)
		}
		d.user, err = usernet.New(fds[1], ucfg)
		if err != nil {
			host.Close(h, fds[0])
			return nil, err
		}
		fd = C.int(fds[0])
	case "tap":
		ifname = C.CString(ifc.Param)
		defer C.free(unsafe.Pointer(ifname))
	}
	cmac := C.CBytes(mac)
	defer C.free(cmac)
	id := C.gk_netdev_add(fd, ifname, (*C.uchar)(cmac), C.uint(offload), &d.nd)
	if id < 0 {
		if d.user != nil {
			d.user.Close()
		}
		if ifname != nil {
			return nil, fmt.Errorf("tap %s: %w (is /dev/net/tun there, and may this process open it?)", ifc.Param, syscall.Errno(-id))
		}
		return nil, fmt.Errorf("netdev: %w", syscall.Errno(-id))
	}
	d.id = id
	return d, nil
}

// setupNetdevs configures the interfaces once the kernel runs: MTU, up,
// addresses, neighbours, default routes, resolv.conf and port forwards.
func (k *Kernel) setupNetdevs() error {
	var gw4, gw6 string = k.cfg.Gateway, k.cfg.Gateway6
	var dns string
	for i, d := range k.netdevs {
		if err := k.setupNetdev(d); err != nil {
			return fmt.Errorf("lkl config: interfaces[%d]: %w", i, err)
		}
		if gw4 == "" && d.ifc.IfGateway != "" {
			gw4 = d.ifc.IfGateway
		}
		if gw6 == "" && d.ifc.IfGateway6 != "" {
			gw6 = d.ifc.IfGateway6
		}
		if d.ifc.Type == "user" {
			if gw4 == "" && !d.dhcp {
				gw4 = d.gateway.String()
			}
			if dns == "" {
				dns = d.dns.String()
			}
		}
	}
	for _, gw := range []struct{ key, addr string }{{"gateway", gw4}, {"gateway6", gw6}} {
		if gw.addr == "" {
			continue
		}
		ip := netip.MustParseAddr(gw.addr)
		af, b := C.int(syscall.AF_INET), ip.AsSlice()
		if ip.Is6() {
			af = syscall.AF_INET6
		}
		if rc := C.gk_set_gateway(af, unsafe.Pointer(&b[0])); rc < 0 {
			return fmt.Errorf("lkl config: %s %s: %w", gw.key, gw.addr, syscall.Errno(-rc))
		}
	}
	if k.cfg.Nameserver == "" && dns != "" {
		if err := k.writeFile("/etc/resolv.conf", []byte("nameserver "+dns+"\n")); err != nil {
			return fmt.Errorf("lkl: resolv.conf: %w", err)
		}
	}
	for i, s := range k.cfg.Forward {
		f, _ := usernet.ParseForward(s)
		a, err := k.Forward(f)
		if err != nil {
			return fmt.Errorf("lkl config: forward[%d]: %w", i, err)
		}
		k.forwards = append(k.forwards, a)
	}
	return nil
}

func (k *Kernel) setupNetdev(d *netdev) error {
	ifindex := C.gk_netdev_ifindex(d.id)
	if ifindex < 0 {
		return fmt.Errorf("ifindex: %w", syscall.Errno(-ifindex))
	}
	if rc := C.gk_if_up(ifindex); rc < 0 {
		return fmt.Errorf("up: %w", syscall.Errno(-rc))
	}
	mtu, _ := parseNumber(d.ifc.MTU)
	addr, masklen := uint32(0), -1
	if d.addr.IsValid() && !d.dhcp {
		b := d.addr.Addr().As4()
		addr, masklen = binary.NativeEndian.Uint32(b[:]), d.addr.Bits()
	}
	if rc := C.gk_if_config(ifindex, C.int(mtu), C.uint(addr), C.int(masklen)); rc < 0 {
		return fmt.Errorf("mtu %s, ip %v: %w", d.ifc.MTU, d.addr, syscall.Errno(-rc))
	}
	if d.ifc.IPv6 != "" {
		b := netip.MustParseAddr(d.ifc.IPv6).As16()
		n, _ := parseNumber(d.ifc.MaskLen6)
		if d.ifc.MaskLen6 == "" {
			n = 64
		}
		if rc := C.gk_if_set_ipv6(ifindex, unsafe.Pointer(&b[0]), C.int(n)); rc < 0 {
			return fmt.Errorf("ipv6 %s: %w", d.ifc.IPv6, syscall.Errno(-rc))
		}
	}
	for _, e := range splitList(d.ifc.Neigh, ";") {
		ipStr, macStr, _ := strings.Cut(e, "|")
		ip := netip.MustParseAddr(strings.TrimSpace(ipStr))
		mac, _ := net.ParseMAC(strings.TrimSpace(macStr))
		af, b := C.int(syscall.AF_INET), ip.AsSlice()
		if ip.Is6() {
			af = syscall.AF_INET6
		}
		if rc := C.gk_add_neighbor(ifindex, af, unsafe.Pointer(&b[0]), unsafe.Pointer(&mac[0])); rc < 0 {
			return fmt.Errorf("neigh %s: %w", e, syscall.Errno(-rc))
		}
	}
	return nil
}

// removeNetdevs stops the devices' host threads; it runs while the kernel
// is still up, before halt.
func (k *Kernel) removeNetdevs() {
	for _, d := range k.netdevs {
		C.gk_netdev_remove(d.id)
	}
}

// freeNetdevs closes the devices' host ends and the user networks; it runs
// after halt (or when boot fails before the kernel started).
func (k *Kernel) freeNetdevs() error {
	var errs []error
	for _, d := range k.netdevs {
		C.gk_netdev_free(d.nd)
		if d.user != nil {
			// The program may have closed it already (net.ErrClosed).
			if err := d.user.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// UserNetwork returns the user network of the first interface of type
// "user", or nil. Use it to add port forwards at run time.
func (k *Kernel) UserNetwork() *usernet.Network {
	for _, d := range k.netdevs {
		if d.user != nil {
			return d.user
		}
	}
	return nil
}

// Forward starts a port forward from the host into LKL through the first
// user network and returns the host address it listens on. It runs until
// the kernel halts.
func (k *Kernel) Forward(f usernet.Forward) (net.Addr, error) {
	n := k.UserNetwork()
	if n == nil {
		return nil, fmt.Errorf("lkl: forward %v: no interface of type user", f)
	}
	return n.Forward(f)
}

// Forwards returns the host addresses of Config.Forward's port forwards,
// in order (with the ports picked for port 0).
func (k *Kernel) Forwards() []net.Addr { return k.forwards }
