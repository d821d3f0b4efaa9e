package libgo_test

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/libgo"
)

// rawSockaddr is a raw address: family in host byte order, then rest.
func rawSockaddr(family uint16, rest ...string) []byte {
	b := binary.NativeEndian.AppendUint16(nil, family)
	for _, r := range rest {
		b = append(b, r...)
	}
	return b
}

// Raw addresses as the kernel writes them.
var (
	// 127.0.0.1:8080
	rawInet4 = rawSockaddr(unix.AF_INET, "\x1f\x90", "\x7f\x00\x00\x01", strings.Repeat("\x00", 8))
	// [::1%3]:443, with a flow label that decoding ignores
	rawInet6 = rawSockaddr(unix.AF_INET6, "\x01\xbb", "\xef\xbe\xad\xde", strings.Repeat("\x00", 15)+"\x01", "\x03\x00\x00\x00")
	// the longest path name
	path107 = "/" + strings.Repeat("p", 106)
)

func TestParseSockaddr(t *testing.T) {
	for _, tc := range []struct {
		name string
		raw  []byte
		want libgo.Sockaddr
		err  error
	}{
		{name: "inet4", raw: rawInet4, want: &libgo.SockaddrInet4{Port: 8080, Addr: [4]byte{127, 0, 0, 1}}},
		{name: "inet4 in a sockaddr_storage", raw: append(append([]byte(nil), rawInet4...), make([]byte, 96)...), want: &libgo.SockaddrInet4{Port: 8080, Addr: [4]byte{127, 0, 0, 1}}},
		{name: "inet4 short", raw: rawInet4[:15], err: syscall.EINVAL},
		{name: "inet6", raw: rawInet6, want: &libgo.SockaddrInet6{Port: 443, ZoneId: 3, Addr: [16]byte{15: 1}}},
		{name: "inet6 short", raw: rawInet6[:27], err: syscall.EINVAL},
		{name: "unix path", raw: rawSockaddr(unix.AF_UNIX, "/run/s.sock\x00"), want: &libgo.SockaddrUnix{Name: "/run/s.sock"}},
		{name: "unix path without NUL", raw: rawSockaddr(unix.AF_UNIX, "/run/s"), want: &libgo.SockaddrUnix{Name: "/run/s"}},
		{name: "unix path, junk after NUL", raw: rawSockaddr(unix.AF_UNIX, "/a\x00junk"), want: &libgo.SockaddrUnix{Name: "/a"}},
		{name: "unix path 107", raw: rawSockaddr(unix.AF_UNIX, path107, "\x00"), want: &libgo.SockaddrUnix{Name: path107}},
		{name: "unix path 108 fills sun_path", raw: rawSockaddr(unix.AF_UNIX, path107+"x"), err: syscall.EINVAL},
		{name: "unix path 108 and NUL past sun_path", raw: rawSockaddr(unix.AF_UNIX, path107+"x\x00"), err: syscall.EINVAL},
		{name: "unix abstract", raw: rawSockaddr(unix.AF_UNIX, "\x00svc"), want: &libgo.SockaddrUnix{Name: "@svc"}},
		{name: "unix abstract keeps NULs", raw: rawSockaddr(unix.AF_UNIX, "\x00a\x00b\x00"), want: &libgo.SockaddrUnix{Name: "@a\x00b\x00"}},
		{name: "unix abstract cut at sun_path", raw: rawSockaddr(unix.AF_UNIX, "\x00", strings.Repeat("z", 120)), want: &libgo.SockaddrUnix{Name: "@" + strings.Repeat("z", 107)}},
		{name: "unix unnamed", raw: rawSockaddr(unix.AF_UNIX), want: &libgo.SockaddrUnix{}},
		{name: "empty", raw: nil, err: syscall.EINVAL},
		{name: "half a family", raw: []byte{2}, err: syscall.EINVAL},
		{name: "AF_UNSPEC", raw: rawSockaddr(unix.AF_UNSPEC, strings.Repeat("\x00", 14)), err: syscall.EAFNOSUPPORT},
		{name: "AF_NETLINK", raw: rawSockaddr(unix.AF_NETLINK, strings.Repeat("\x00", 10)), err: syscall.EAFNOSUPPORT},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sa, err := libgo.ParseSockaddr(tc.raw)
			if tc.err != nil {
				require.Equal(t, tc.err, err)
				require.Nil(t, sa)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, sa)
		})
	}
}

func TestEncodeSockaddr(t *testing.T) {
	for _, tc := range []struct {
		name string
		sa   libgo.Sockaddr
		raw  []byte // nil: err
		err  error
	}{
		{name: "inet4", sa: &libgo.SockaddrInet4{Port: 8080, Addr: [4]byte{127, 0, 0, 1}}, raw: rawInet4},
		{name: "inet4 port 65535", sa: &libgo.SockaddrInet4{Port: 65535}, raw: rawSockaddr(unix.AF_INET, "\xff\xff", strings.Repeat("\x00", 12))},
		{name: "inet4 port 65536", sa: &libgo.SockaddrInet4{Port: 65536}, err: syscall.EINVAL},
		{name: "inet4 port -1", sa: &libgo.SockaddrInet4{Port: -1}, err: syscall.EINVAL},
		{name: "inet6", sa: &libgo.SockaddrInet6{Port: 443, ZoneId: 3, Addr: [16]byte{15: 1}},
			raw: rawSockaddr(unix.AF_INET6, "\x01\xbb\x00\x00\x00\x00", strings.Repeat("\x00", 15)+"\x01", "\x03\x00\x00\x00")},
		{name: "inet6 port -1", sa: &libgo.SockaddrInet6{Port: -1}, err: syscall.EINVAL},
		{name: "unix path", sa: &libgo.SockaddrUnix{Name: "/a"}, raw: rawSockaddr(unix.AF_UNIX, "/a\x00")},
		{name: "unix path 107", sa: &libgo.SockaddrUnix{Name: path107}, raw: rawSockaddr(unix.AF_UNIX, path107, "\x00")},
		{name: "unix path 108", sa: &libgo.SockaddrUnix{Name: path107 + "x"}, err: syscall.EINVAL},
		{name: "unix path with NUL", sa: &libgo.SockaddrUnix{Name: "/a\x00b"}, err: syscall.EINVAL},
		{name: "unix abstract @", sa: &libgo.SockaddrUnix{Name: "@svc"}, raw: rawSockaddr(unix.AF_UNIX, "\x00svc")},
		{name: "unix abstract NUL", sa: &libgo.SockaddrUnix{Name: "\x00svc"}, raw: rawSockaddr(unix.AF_UNIX, "\x00svc")},
		{name: "unix abstract 108", sa: &libgo.SockaddrUnix{Name: "@" + strings.Repeat("z", 107)}, raw: rawSockaddr(unix.AF_UNIX, "\x00", strings.Repeat("z", 107))},
		{name: "unix abstract 109", sa: &libgo.SockaddrUnix{Name: "@" + strings.Repeat("z", 108)}, err: syscall.EINVAL},
		{name: "unix unnamed", sa: &libgo.SockaddrUnix{}, raw: rawSockaddr(unix.AF_UNIX)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := libgo.EncodeSockaddr(tc.sa)
			if tc.err != nil {
				require.Equal(t, tc.err, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.raw, raw)
			back, err := libgo.ParseSockaddr(raw)
			require.NoError(t, err)
			if u, ok := tc.sa.(*libgo.SockaddrUnix); ok && strings.HasPrefix(u.Name, "\x00") {
				require.Equal(t, &libgo.SockaddrUnix{Name: "@" + u.Name[1:]}, back, "an abstract name decodes with @")
				return
			}
			require.Equal(t, tc.sa, back)
		})
	}
}

// FuzzParseSockaddr checks that ParseSockaddr never panics, fails only with
// EINVAL or EAFNOSUPPORT, and that every address it decodes encodes and
// decodes again to the same value. Seeds: testdata/fuzz/FuzzParseSockaddr
// and the table below.
func FuzzParseSockaddr(f *testing.F) {
	f.Add(rawInet4)
	f.Add(rawInet6)
	f.Add(rawSockaddr(unix.AF_UNIX, path107, "\x00"))
	f.Add(rawSockaddr(unix.AF_UNIX, path107+"x"))
	f.Add(rawSockaddr(unix.AF_UNIX, "\x00", strings.Repeat("z", 120)))
	f.Add(rawSockaddr(unix.AF_UNIX, "\x00a\x00b"))
	f.Add(rawSockaddr(unix.AF_NETLINK, strings.Repeat("\x00", 10)))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, raw []byte) {
		sa, err := libgo.ParseSockaddr(raw)
		if err != nil {
			require.Contains(t, []error{syscall.EINVAL, syscall.EAFNOSUPPORT}, err)
			require.Nil(t, sa)
			return
		}
		require.NotNil(t, sa)
		enc, err := libgo.EncodeSockaddr(sa)
		require.NoError(t, err, "a decoded %#v encodes", sa)
		back, err := libgo.ParseSockaddr(enc)
		require.NoError(t, err)
		require.Equal(t, sa, back)
	})
}

func TestAddrPort(t *testing.T) {
	tests := []struct {
		name string
		sa   libgo.Sockaddr
		want netip.AddrPort
	}{
		{"inet4", &libgo.SockaddrInet4{Port: 80, Addr: [4]byte{127, 0, 0, 1}}, netip.MustParseAddrPort("127.0.0.1:80")},
		{"inet6", &libgo.SockaddrInet6{Port: 443, Addr: netip.IPv6Loopback().As16()}, netip.MustParseAddrPort("[::1]:443")},
		{"unix", &libgo.SockaddrUnix{Name: "/tmp/s"}, netip.AddrPort{}},
		{"nil", nil, netip.AddrPort{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, libgo.AddrPort(tc.sa))
		})
	}
}
