package lkl

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/sys/host"
	"github.com/gokernel/gokernel/sys/lkl/usernet"
)

// Config is how an LKL kernel boots: memory, kernel command line, disks to
// mount and network interfaces. Its JSON form uses the keys of LKL's own
// lkl-hijack configuration (string values, as there) plus gokernel's memory
// and disks:
//
//	{
//	  "memory": "64M",
//	  "boot_cmdline": "",
//	  "debug": "0",
//	  "sysctl": "net.ipv4.tcp_wmem=4096 87380 2147483647",
//	  "nameserver": "10.0.2.3",
//	  "disks": [
//	    {"path": "disk.img", "fstype": "ext4", "partition": 0, "readonly": true, "mountpoint": "/mnt/disk"},
//	    {"path": "a.img", "images": ["b.img"], "volume": "vg/root", "mountpoint": "/mnt/root"}
//	  ],
//	  "interfaces": []
//	}
//
// The zero Config is valid: 64 MiB of memory, no disks, loopback only.
type Config struct {
	// Memory is the kernel's memory: a byte count with an optional K, M or
	// G suffix ("64M"). Empty means DefaultMemory.
	Memory string `json:"memory,omitempty"`
	// BootCmdline is appended to the kernel command line ("ip=dhcp").
	BootCmdline string `json:"boot_cmdline,omitempty"`
	// Debug, if not "" or "0", lets kernel messages (printk) through to
	// stderr. Like lkl-hijack's key, it is a number (decimal or 0x hex).
	Debug string `json:"debug,omitempty"`
	// Singlecpu is lkl-hijack's CPU pinning key ("0", "1" or "2"). gokernel
	// lets the Go runtime schedule LKL's threads, so it is parsed and checked
	// but has no effect.
	Singlecpu string `json:"singlecpu,omitempty"`
	// Sysctl sets kernel parameters after boot: "key=value" entries
	// separated by ";" (a value may contain spaces).
	Sysctl string `json:"sysctl,omitempty"`
	// Gateway and Gateway6 are default routes (IPv4 and IPv6).
	Gateway  string `json:"gateway,omitempty"`
	Gateway6 string `json:"gateway6,omitempty"`
	// Nameserver is written to LKL's /etc/resolv.conf.
	Nameserver string `json:"nameserver,omitempty"`
	// DelayMain is a wait, in microseconds, after boot and before the
	// kernel is handed to the program.
	DelayMain string `json:"delay_main,omitempty"`
	// Mount lists pseudo file systems to mount after boot, lkl-hijack style:
	// "proc,sysfs" mounts /proc and /sys.
	Mount string `json:"mount,omitempty"`
	// Disks are disk images attached before boot and mounted after it.
	Disks []Disk `json:"disks,omitempty"`
	// IOTimeout bounds how long a request to a disk served by Go (see
	// Kernel.AttachDisk) may take before the kernel gets an I/O error: a
	// Go duration ("30s", "500ms"); "0" means no bound. Empty means
	// DefaultIOTimeout. Image files are read by the host kernel, unbounded.
	IOTimeout string `json:"io_timeout,omitempty"`
	// Interfaces are network devices (see Interface).
	Interfaces []Interface `json:"interfaces,omitempty"`
	// Forward lists port forwards from the host into LKL through the
	// first interface of type "user", like QEMU's hostfwd:
	// "tcp:127.0.0.1:8080:80" accepts TCP on the host's 127.0.0.1:8080 and
	// connects each connection to port 80 of LKL's address;
	// "udp:127.0.0.1:5353:53" relays datagrams. Host port 0 picks a free
	// port (Kernel.Forwards reports it).
	Forward []string `json:"forward,omitempty"`
	// Isolation says where the kernel runs when sys boots it
	// (GOKERNEL=lkl): "" or "none" in this process, "process" in a
	// sandboxed child process that answers this one's calls (package
	// sys/isolated, docs/isolation.md). An isolated kernel's user
	// networks are restricted unless their restrict key says "off". Boot
	// itself always boots in the calling process.
	Isolation string `json:"isolation,omitempty"`
	// IsolationDeadline bounds how long an isolated kernel may go without
	// answering (its heartbeat, a call into LKL, stops) before its process
	// is killed and every call fails with EIO: a Go duration ("10s");
	// "0" means no bound. Empty means DefaultIsolationDeadline. A call
	// that blocks for long (a read of an empty pipe) is not a missed
	// heartbeat.
	IsolationDeadline string `json:"isolation_deadline,omitempty"`
	// IsolationCallDeadline bounds how long one call may run in an
	// isolated kernel's process (a file system looping on a hostile
	// image while its heartbeat goes on) before the process is killed
	// and every call fails with EIO: a Go duration; "0" means no bound;
	// empty means DefaultIsolationCallDeadline. Calls that wait for
	// another party by design (poll, epoll_wait, futex, nanosleep,
	// accept, connect, recv and send calls, wait4, ..., and read and
	// write on anything but a file, directory or block device) are not
	// bounded (sys/isolated, docs/isolation.md).
	IsolationCallDeadline string `json:"isolation_call_deadline,omitempty"`

	// Host makes the host calls of the kernel's own plumbing: the
	// console fds' reads and writes, the user network's socketpair and
	// the user network's own calls (usernet.Config.Host). It is not read
	// from JSON. nil means the host kernel itself (host.Kernel); sys
	// passes sys.Host() when it boots LKL, and a test or program may
	// pass a sys.Tracer or sys.Injector around it to see or break those
	// calls.
	Host host.Caller `json:"-"`
}

// DefaultUserMTU is the MTU of an interface of type user without an mtu
// key, and MaxUserMTU the largest it takes. Above about 16000 bytes LKL's
// virtio-net (mergeable RX buffers) drops frames: measured, 32000 crawls
// with retransmissions and 65000 stalls.
const (
	DefaultUserMTU = 9000
	MaxUserMTU     = 16000
)

// DefaultMemory is the kernel memory used when Config.Memory is empty.
const DefaultMemory = 64 << 20

// DefaultIsolationDeadline is how long an isolated kernel may stop
// answering when Config.IsolationDeadline is empty.
const DefaultIsolationDeadline = 10 * time.Second

// DefaultIsolationCallDeadline is how long one call may run in an
// isolated kernel when Config.IsolationCallDeadline is empty.
const DefaultIsolationCallDeadline = 30 * time.Second

// DefaultIOTimeout is the bound on a Go disk's request when
// Config.IOTimeout is empty.
const DefaultIOTimeout = 30 * time.Second

// Disk is a disk image given to the kernel.
type Disk struct {
	// Path is the image: a file or block device on the host, or a URL
	// (http://, https:// read over Range requests; nbd://host:port/export,
	// nbd+unix:///export?socket=PATH), as disk.Open and disk/remote read it.
	Path string `json:"path"`
	// Format is "raw" or "qcow2"; empty means detect it from the image.
	// A qcow2 image is read-only unless Overlay is set.
	Format string `json:"format,omitempty"`
	// Overlay puts a copy-on-write overlay over the image, which is then
	// never written: "memory" (writes are lost at halt), or the path of a
	// sidecar file that keeps them (disk.OpenOverlay).
	Overlay string `json:"overlay,omitempty"`
	// ReadOnly opens the image read-only on the host and mounts it
	// read-only: the file is never written.
	ReadOnly bool `json:"readonly,omitempty"`
	// Volume names an LVM logical volume ("vg/lv", "/dev/vg/lv",
	// "/dev/mapper/vg-lv") or an MD array ("md0", "/dev/md0", its name
	// or UUID) on the image (its whole disk or any of its partitions)
	// and on Images; that volume is attached instead of the image, and
	// Partition, FSType and MountPoint apply to it (docs/volumes.md).
	// Empty attaches the image itself.
	Volume string `json:"volume,omitempty"`
	// Images are more images scanned with Path for Volume: the other PVs
	// of a VG, the other members of an MD array, that span several
	// images. They are opened with the same Format and read-only as
	// Path; Overlay applies to the volume. Relative paths are taken as
	// Path's are.
	Images []string `json:"images,omitempty"`
	// Partition is 0 for the whole disk, N for the Nth MBR or GPT
	// partition (of the volume, if Volume is set).
	Partition int `json:"partition,omitempty"`
	// FSType is one of FSTypes; empty means detect it from the image.
	FSType string `json:"fstype,omitempty"`
	// MountPoint is a path in LKL's file system, created as needed. Empty
	// means attach the disk without mounting it.
	MountPoint string `json:"mountpoint,omitempty"`
}

// Interface is a network interface, with lkl-hijack's keys plus resolver.
//
//   - Type "user" is a rootless user network (package usernet): LKL's
//     virtio-net device on one end of a host socketpair, gVisor's netstack
//     on the other as router, NAT and DNS forwarder. Defaults follow QEMU:
//     ip 10.0.2.15, masklen 24, gateway 10.0.2.2 (which is the host's
//     127.0.0.1), DNS 10.0.2.3 (forwarded to Resolver), nameserver 10.0.2.3.
//     With boot_cmdline "ip=dhcp" the address and route come from the user
//     network's DHCP server instead.
//   - Type "tap" is LKL's TAP device on the host's TAP interface named by
//     Param (the process must be allowed to open /dev/net/tun).
//
// MTU, IP/MaskLen, IPv6/MaskLen6, MAC, Offload (virtio-net feature bits)
// and Neigh ("ip|mac;...") work as in lkl-hijack. IfGateway and
// IfGateway6 become default routes (this LKL has no per-interface routing
// tables). Qdisc is refused at boot: LKL 1.0.3's source has no
// net/sched/sch_api.c, so there is no netlink API to add a qdisc with.
type Interface struct {
	Type       string `json:"type"`
	Param      string `json:"param,omitempty"`
	MTU        string `json:"mtu,omitempty"`
	IP         string `json:"ip,omitempty"`
	MaskLen    string `json:"masklen,omitempty"`
	IfGateway  string `json:"ifgateway,omitempty"`
	IPv6       string `json:"ipv6,omitempty"`
	MaskLen6   string `json:"masklen6,omitempty"`
	IfGateway6 string `json:"ifgateway6,omitempty"`
	MAC        string `json:"mac,omitempty"`
	Offload    string `json:"offload,omitempty"`
	Neigh      string `json:"neigh,omitempty"`
	Qdisc      string `json:"qdisc,omitempty"`
	// Resolver is gokernel's key for type "user": the host's DNS server
	// ("ip" or "ip:port") that the DNS forwarder asks. Empty means the
	// first nameserver of the host's /etc/resolv.conf.
	Resolver string `json:"resolver,omitempty"`
	// Restrict is gokernel's key for type "user", QEMU's restrict: "on"
	// lets the guest open no connection or flow through the NAT (not to
	// the host's loopback through the gateway, not to the DNS forwarder,
	// not out), except to the destinations of Allow; port forwards into
	// the guest still work. "off" is QEMU's default, everything the host
	// can reach. Empty means "off", or "on" for an isolated kernel
	// (Config.Isolation "process").
	Restrict string `json:"restrict,omitempty"`
	// ServedFD, for type user, is the host fd of LKL's end of a user
	// network's socketpair whose other end is already served elsewhere
	// (UserNetConfig, UserSocketpair: an isolated kernel's parent runs
	// the network, its child gets this end); Boot then starts no network
	// for the interface, and Kernel.UserNetwork and Forward do not see it.
	// Not read from JSON.
	ServedFD int `json:"-"`
	// Allow lists the destinations a restricted guest may still reach, as
	// usernet.ParseRule reads them: "tcp:10.0.2.2:8080" (the host's
	// 127.0.0.1:8080), "udp:10.0.2.3:53" (the DNS forwarder),
	// "tcp:192.0.2.0/24:*". An allow list restricts the interface to it
	// (restrict "off" with an allow list is an error).
	Allow []string `json:"allow,omitempty"`
}

// Virtio-net feature bits of the offload key (linux/virtio_net.h).
const (
	virtioNetFGuestCsum = 1  // LKL accepts frames without checking checksums
	virtioNetFMrgRxbuf  = 15 // LKL takes frames above 1500 bytes in merged buffers
)

// userNet derives a user network from an interface (its MTU defaulted)
// and LKL's address on it: LKL's address and mask, the gateway
// (ifgateway, the global gateway if it is on the network, else the
// network's .2), DNS at .3, the MTU and the reach policy.
func (c *Config) userNet(ifc Interface, addr netip.Prefix) usernet.Config {
	prefix := addr.Masked()
	base := prefix.Addr().As4()
	at := func(last byte) netip.Addr { b := base; b[3] |= last; return netip.AddrFrom4(b) }
	u := usernet.Config{Host: c.Host, Prefix: prefix, Guest: addr.Addr(), Gateway: at(2), DNS: at(3), Resolver: ifc.Resolver,
		Policy: ifc.policy(c.Isolated())}
	if gw, err := netip.ParseAddr(ifc.IfGateway); err == nil {
		u.Gateway = gw
	} else if gw, err := netip.ParseAddr(c.Gateway); err == nil && prefix.Contains(gw) {
		u.Gateway = gw
	}
	if n, _ := parseNumber(ifc.MTU); n > 0 {
		u.MTU = int(n)
	}
	// With virtio-net's GUEST_CSUM LKL takes frames as checksummed
	// (DATA_VALID), so the netstack may skip checksums both ways.
	if off, _ := parseNumber(ifc.Offload); off&(1<<virtioNetFGuestCsum) != 0 {
		u.ChecksumOffload = true
	}
	return u
}

// UserNetConfig returns the configuration of interface i's user network as
// Boot would start it, for a program that runs the network itself and
// gives LKL only its end of the socketpair (Interface.ServedFD), as an
// isolated kernel's parent does. Host is Config.Host.
func (c *Config) UserNetConfig(i int) (usernet.Config, error) {
	if i < 0 || i >= len(c.Interfaces) || c.Interfaces[i].Type != "user" {
		return usernet.Config{}, fmt.Errorf("lkl config: interfaces[%d] is not of type user", i)
	}
	ifc := c.Interfaces[i]
	addr := ifc.prefix()
	if !addr.IsValid() {
		addr = netip.PrefixFrom(usernet.DefaultGuest, usernet.DefaultPrefix.Bits())
	}
	if ifc.MTU == "" {
		ifc.MTU = strconv.Itoa(DefaultUserMTU)
	}
	return c.userNet(ifc, addr), nil
}

// prefix returns the interface's IPv4 address and mask length (24 if
// masklen is left out), or an invalid prefix without an ip key.
func (ifc *Interface) prefix() netip.Prefix {
	if ifc.IP == "" {
		return netip.Prefix{}
	}
	n, _ := parseNumber(ifc.MaskLen)
	if ifc.MaskLen == "" {
		n = 24
	}
	return netip.PrefixFrom(netip.MustParseAddr(ifc.IP), int(n))
}

// UserSocketpair makes the socketpair of a user network, on h: index 0 is
// LKL's end, 1 the network's. Both have 4 MiB socket buffers.
func UserSocketpair(h host.Caller) ([2]int, error) {
	fds, err := host.Socketpair(h, unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fds, fmt.Errorf("socketpair: %w", err)
	}
	for _, f := range fds {
		host.SetsockoptInt(h, f, unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<20)
		host.SetsockoptInt(h, f, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
	}
	return fds, nil
}

// policy returns the interface's NAT policy; restricted is the default
// when Restrict is empty (Validate has checked the values).
func (ifc *Interface) policy(restricted bool) usernet.Policy {
	p := usernet.Policy{Restrict: restricted || len(ifc.Allow) > 0}
	switch ifc.Restrict {
	case "on":
		p.Restrict = true
	case "off":
		p.Restrict = false
	}
	for _, a := range ifc.Allow {
		r, _ := usernet.ParseRule(a)
		p.Allow = append(p.Allow, r)
	}
	return p
}

// FSTypes are the file system types the kernel is built with. ext4 also
// mounts ext2 and ext3 file systems. (squashfs and iso9660 are missing: the
// LKL source package ships without them.)
var FSTypes = []string{"ext4", "ext3", "ext2", "xfs", "btrfs", "vfat"}

// InterfaceTypes are the interface types the configuration accepts.
var InterfaceTypes = []string{"user", "tap"}

// LoadConfig reads a JSON configuration. Relative disk paths are taken
// relative to the file's directory. An unknown key or a bad value is an
// error that names it.
func LoadConfig(file string) (*Config, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	c, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	dir := filepath.Dir(file)
	for i := range c.Disks {
		if c.Disks[i].Path != "" && !filepath.IsAbs(c.Disks[i].Path) {
			c.Disks[i].Path = filepath.Join(dir, c.Disks[i].Path)
		}
		for j, img := range c.Disks[i].Images {
			if img != "" && !filepath.IsAbs(img) && !strings.Contains(img, "://") {
				c.Disks[i].Images[j] = filepath.Join(dir, img)
			}
		}
	}
	return c, nil
}

// ParseConfig decodes and checks a JSON configuration. Disk images are not
// opened here; Boot reports a missing one.
func ParseConfig(data []byte) (*Config, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var c Config
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("lkl config: %w", err)
	}
	if dec.More() {
		return nil, errors.New("lkl config: data after the JSON object")
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// A ConfigError names the key whose value is wrong.
type ConfigError struct {
	Key   string // e.g. "disks[1].fstype"
	Value string
	Err   error
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("lkl config: %s=%q: %v", e.Key, e.Value, e.Err)
}

func (e *ConfigError) Unwrap() error { return e.Err }

// Validate checks every value and returns the first bad one as a
// *ConfigError.
func (c *Config) Validate() error {
	bad := func(key, value, format string, args ...any) error {
		return &ConfigError{Key: key, Value: value, Err: fmt.Errorf(format, args...)}
	}
	if _, err := c.MemoryBytes(); err != nil {
		return bad("memory", c.Memory, "%v", err)
	}
	if _, err := parseNumber(c.Debug); err != nil {
		return bad("debug", c.Debug, "want a number such as 0, 1 or 0x100")
	}
	if c.Singlecpu != "" && c.Singlecpu != "0" && c.Singlecpu != "1" && c.Singlecpu != "2" {
		return bad("singlecpu", c.Singlecpu, "want 0, 1 or 2")
	}
	if n, err := parseNumber(c.DelayMain); err != nil || n < 0 {
		return bad("delay_main", c.DelayMain, "want microseconds, e.g. 500000")
	}
	if _, err := c.SysctlEntries(); err != nil {
		return bad("sysctl", c.Sysctl, "%v", err)
	}
	if err := checkIP(c.Gateway, false); err != nil {
		return bad("gateway", c.Gateway, "%v", err)
	}
	if err := checkIP(c.Gateway6, true); err != nil {
		return bad("gateway6", c.Gateway6, "%v", err)
	}
	if c.Nameserver != "" && net.ParseIP(c.Nameserver) == nil {
		return bad("nameserver", c.Nameserver, "want an IP address")
	}
	for _, m := range c.MountList() {
		if m != "proc" && m != "sysfs" {
			return bad("mount", c.Mount, "can mount proc and sysfs, not %q", m)
		}
	}
	if _, err := parseIOTimeout(c.IOTimeout); err != nil {
		return bad("io_timeout", c.IOTimeout, "%v", err)
	}
	if c.Isolation != "" && c.Isolation != "none" && c.Isolation != "process" {
		return bad("isolation", c.Isolation, "want none or process")
	}
	if _, err := parseDuration(c.IsolationDeadline, DefaultIsolationDeadline); err != nil {
		return bad("isolation_deadline", c.IsolationDeadline, "%v", err)
	}
	if _, err := parseDuration(c.IsolationCallDeadline, DefaultIsolationCallDeadline); err != nil {
		return bad("isolation_call_deadline", c.IsolationCallDeadline, "%v", err)
	}
	mounts := map[string]int{}
	for i, d := range c.Disks {
		if err := d.Validate(); err != nil {
			var ce *ConfigError
			if errors.As(err, &ce) {
				ce.Key = fmt.Sprintf("disks[%d].%s", i, ce.Key)
			}
			return err
		}
		if d.MountPoint != "" {
			mp := path.Clean(d.MountPoint)
			if j, dup := mounts[mp]; dup {
				return &ConfigError{Key: fmt.Sprintf("disks[%d].mountpoint", i), Value: d.MountPoint,
					Err: fmt.Errorf("disks[%d] is mounted there too", j)}
			}
			mounts[mp] = i
		}
	}
	user := false
	for i, ifc := range c.Interfaces {
		if err := ifc.validate(); err != nil {
			var ce *ConfigError
			if errors.As(err, &ce) {
				ce.Key = fmt.Sprintf("interfaces[%d].%s", i, ce.Key)
			}
			return err
		}
		user = user || ifc.Type == "user"
	}
	for i, f := range c.Forward {
		key := fmt.Sprintf("forward[%d]", i)
		if _, err := usernet.ParseForward(f); err != nil {
			return bad(key, f, "%v", err)
		}
		if !user {
			return bad(key, f, "port forwards need an interface of type user")
		}
	}
	return nil
}

// Validate checks a disk's values; a *ConfigError names the bad key.
func (d *Disk) Validate() error {
	bad := func(key, value, format string, args ...any) error {
		return &ConfigError{Key: key, Value: value, Err: fmt.Errorf(format, args...)}
	}
	switch {
	case d.Path == "":
		return bad("path", d.Path, "a disk needs the path of its image")
	case strings.ContainsRune(d.Path, 0):
		return bad("path", d.Path, "contains a NUL byte")
	case strings.ContainsRune(d.MountPoint, 0):
		return bad("mountpoint", d.MountPoint, "contains a NUL byte")
	case d.Format != "" && d.Format != "raw" && d.Format != "qcow2":
		return bad("format", d.Format, "want raw or qcow2, or leave it out to detect")
	case strings.ContainsRune(d.Overlay, 0):
		return bad("overlay", d.Overlay, "contains a NUL byte")
	case strings.ContainsRune(d.Volume, 0):
		return bad("volume", d.Volume, "contains a NUL byte")
	case len(d.Images) > 0 && d.Volume == "":
		return bad("images", strings.Join(d.Images, ","), "more images are scanned for a volume: set volume too")
	case d.Partition < 0 || d.Partition > 255:
		return bad("partition", strconv.Itoa(d.Partition), "want 0 (whole disk) to 255")
	case d.FSType != "" && !slices.Contains(FSTypes, d.FSType):
		return bad("fstype", d.FSType, "want one of %s, or leave it out to detect", strings.Join(FSTypes, ", "))
	case d.MountPoint != "" && !path.IsAbs(d.MountPoint):
		return bad("mountpoint", d.MountPoint, "want an absolute path inside LKL, e.g. /mnt/disk")
	case d.MountPoint != "" && path.Clean(d.MountPoint) == "/":
		return bad("mountpoint", d.MountPoint, "cannot mount over LKL's root")
	}
	for i, img := range d.Images {
		switch {
		case img == "":
			return bad(fmt.Sprintf("images[%d]", i), img, "empty: name an image file, block device or URL")
		case strings.ContainsRune(img, 0):
			return bad(fmt.Sprintf("images[%d]", i), img, "contains a NUL byte")
		case img == d.Path || slices.Contains(d.Images[:i], img):
			return bad(fmt.Sprintf("images[%d]", i), img, "named twice")
		}
	}
	return nil
}

func (ifc *Interface) validate() error {
	bad := func(key, value, format string, args ...any) error {
		return &ConfigError{Key: key, Value: value, Err: fmt.Errorf(format, args...)}
	}
	if !slices.Contains(InterfaceTypes, ifc.Type) {
		return bad("type", ifc.Type, "want one of %s", strings.Join(InterfaceTypes, ", "))
	}
	if n, err := parseNumber(ifc.MTU); err != nil || ifc.MTU != "" && (n < 68 || n > 65535) {
		return bad("mtu", ifc.MTU, "want 68 to 65535")
	}
	if n, _ := parseNumber(ifc.MTU); ifc.Type == "user" && n > MaxUserMTU {
		return bad("mtu", ifc.MTU, "a user network takes at most %d: LKL's virtio-net loses larger frames", MaxUserMTU)
	}
	if err := checkIP(ifc.IP, false); err != nil {
		return bad("ip", ifc.IP, "%v", err)
	}
	if n, err := parseNumber(ifc.MaskLen); err != nil || n < 0 || n > 32 {
		return bad("masklen", ifc.MaskLen, "want 0 to 32")
	}
	if err := checkIP(ifc.IfGateway, false); err != nil {
		return bad("ifgateway", ifc.IfGateway, "%v", err)
	}
	if err := checkIP(ifc.IPv6, true); err != nil {
		return bad("ipv6", ifc.IPv6, "%v", err)
	}
	if n, err := parseNumber(ifc.MaskLen6); err != nil || n < 0 || n > 128 {
		return bad("masklen6", ifc.MaskLen6, "want 0 to 128")
	}
	if err := checkIP(ifc.IfGateway6, true); err != nil {
		return bad("ifgateway6", ifc.IfGateway6, "%v", err)
	}
	if ifc.MAC != "" {
		if hw, err := net.ParseMAC(ifc.MAC); err != nil || len(hw) != 6 {
			return bad("mac", ifc.MAC, "want a MAC address such as 12:34:56:78:9a:bc")
		}
	}
	if _, err := parseNumber(ifc.Offload); err != nil {
		return bad("offload", ifc.Offload, "want a bit mask such as 0xc803")
	}
	for _, e := range splitList(ifc.Neigh, ";") {
		ip, mac, ok := strings.Cut(e, "|")
		if _, err := net.ParseMAC(mac); !ok || net.ParseIP(ip) == nil || err != nil {
			return bad("neigh", ifc.Neigh, "want ip|mac;ip|mac;..., not %q", e)
		}
	}
	for _, e := range splitList(ifc.Qdisc, ";") {
		if root, kind, ok := strings.Cut(e, "|"); !ok || root == "" || kind == "" {
			return bad("qdisc", ifc.Qdisc, "want root|type;..., not %q", e)
		}
	}
	if ifc.Resolver != "" {
		if ifc.Type != "user" {
			return bad("resolver", ifc.Resolver, "only interfaces of type user have a DNS forwarder")
		}
		if _, err := netip.ParseAddr(ifc.Resolver); err != nil {
			if _, err := netip.ParseAddrPort(ifc.Resolver); err != nil {
				return bad("resolver", ifc.Resolver, "want ip or ip:port")
			}
		}
	}
	if ifc.Restrict != "" && ifc.Type != "user" {
		return bad("restrict", ifc.Restrict, "only interfaces of type user have a NAT to restrict")
	}
	if ifc.Restrict != "" && ifc.Restrict != "on" && ifc.Restrict != "off" {
		return bad("restrict", ifc.Restrict, "want on or off")
	}
	for i, a := range ifc.Allow {
		key := fmt.Sprintf("allow[%d]", i)
		if ifc.Type != "user" {
			return bad(key, a, "only interfaces of type user have a NAT to allow through")
		}
		if _, err := usernet.ParseRule(a); err != nil {
			return bad(key, a, "want tcp:IP:PORT or udp:IP:PORT (IP may be a prefix, PORT may be *)")
		}
		if ifc.Restrict == "off" {
			return bad(key, a, "an allow list restricts the interface: drop restrict \"off\" or the list")
		}
	}
	if ifc.Type == "tap" && ifc.Param == "" {
		return bad("param", ifc.Param, "a tap interface needs the host TAP device's name")
	}
	return nil
}

// MemoryBytes returns Memory in bytes.
func (c *Config) MemoryBytes() (int64, error) {
	s := strings.TrimSpace(c.Memory)
	if s == "" {
		return DefaultMemory, nil
	}
	mult := int64(1)
	switch s[len(s)-1] {
	case 'k', 'K':
		mult = 1 << 10
	case 'm', 'M':
		mult = 1 << 20
	case 'g', 'G':
		mult = 1 << 30
	}
	if mult > 1 {
		s = s[:len(s)-1]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n > (64<<30)/mult {
		return 0, errors.New("want a size such as 64M or 1G (at most 64G)")
	}
	if n*mult < 16<<20 {
		return 0, errors.New("LKL needs at least 16M")
	}
	return n * mult, nil
}

// SysctlEntry is one "key=value" of Config.Sysctl.
type SysctlEntry struct{ Key, Value string }

// SysctlEntries splits Sysctl into its entries.
func (c *Config) SysctlEntries() ([]SysctlEntry, error) {
	var out []SysctlEntry
	for _, e := range splitList(c.Sysctl, ";") {
		k, v, ok := strings.Cut(e, "=")
		k = strings.TrimSpace(k)
		if !ok || !sysctlKey.MatchString(k) {
			return nil, fmt.Errorf("want key=value;key=value with keys like net.ipv4.ip_forward, not %q", e)
		}
		out = append(out, SysctlEntry{Key: k, Value: v})
	}
	return out, nil
}

// MountList returns the pseudo file systems named by Mount.
func (c *Config) MountList() []string { return splitList(c.Mount, ",") }

// ioTimeout returns IOTimeout as a duration (0: none).
func (c *Config) ioTimeout() time.Duration {
	d, _ := parseIOTimeout(c.IOTimeout)
	return d
}

func parseIOTimeout(s string) (time.Duration, error) { return parseDuration(s, DefaultIOTimeout) }

// Isolated reports whether the configuration asks for an isolated kernel.
func (c *Config) Isolated() bool { return c.Isolation == "process" }

// Deadline returns IsolationDeadline as a duration (0: none).
func (c *Config) Deadline() time.Duration {
	d, _ := parseDuration(c.IsolationDeadline, DefaultIsolationDeadline)
	return d
}

// CallDeadline returns IsolationCallDeadline as a duration (0: none).
func (c *Config) CallDeadline() time.Duration {
	d, _ := parseDuration(c.IsolationCallDeadline, DefaultIsolationCallDeadline)
	return d
}

// parseDuration reads a positive Go duration, "0" for none, "" for def.
func parseDuration(s string, def time.Duration) (time.Duration, error) {
	switch s {
	case "":
		return def, nil
	case "0":
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, errors.New("want a duration such as 30s or 500ms, or 0 for no bound")
	}
	return d, nil
}

// DebugLevel returns Debug as a number (0 when empty).
func (c *Config) DebugLevel() int64 {
	n, _ := parseNumber(c.Debug)
	return n
}

// sysctlKey is a dotted sysctl name; it becomes a path under /proc/sys.
var sysctlKey = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$`)

func parseNumber(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	return strconv.ParseInt(s, 0, 64)
}

func checkIP(s string, v6 bool) error {
	if s == "" {
		return nil
	}
	ip := net.ParseIP(s)
	switch {
	case ip == nil:
		return errors.New("want an IP address")
	case v6 && ip.To4() != nil:
		return errors.New("want an IPv6 address")
	case !v6 && ip.To4() == nil:
		return errors.New("want an IPv4 address")
	}
	return nil
}

func splitList(s, sep string) []string {
	var out []string
	for _, e := range strings.Split(s, sep) {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}
