package unet_test

import (
	"errors"
	"net"
	"syscall"
	"testing"

	"golang.org/x/net/nettest"

	"github.com/stretchr/testify/require"

	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/unet"
)

// TestConn runs golang.org/x/net/nettest.TestConn on every pairing the
// issue names: unet TCP with unet TCP and unet Unix with unet Unix on
// every kernel, and unet TCP with the standard library's net on the host;
// and unet TCP on a Stack bound to an eloop.Loop (Options.Loop).
func TestConn(t *testing.T) {
	kerneltest.RunBackends(t, func(t *testing.T, k sys.Kernel, backend string) {
		s, ls := newStack(t, k), newLoopStack(t, k)
		require.Equal(t, backend, s.Backend().Backend.String(), "%v", s.Backend())
		require.Equal(t, backend, ls.Backend().Backend.String(), "%v", ls.Backend())
		pipe := func(listen func() (net.Listener, error), dial func(addr net.Addr) (net.Conn, error)) nettest.MakePipe {
			return func() (net.Conn, net.Conn, func(), error) {
				ln, err := listen()
				if err != nil {
					return nil, nil, nil, err
				}
				c1, c2, err := connPair(t, ln, func() (net.Conn, error) { return dial(ln.Addr()) })
				if err != nil {
					ln.Close()
					return nil, nil, nil, err
				}
				return c1, c2, func() { c1.Close(); c2.Close(); ln.Close() }, nil
			}
		}
		unetTCP := func() (net.Listener, error) { return s.Listen("tcp", "127.0.0.1:0") }
		unetDial := func(a net.Addr) (net.Conn, error) { return s.Dial(a.Network(), a.String()) }
		cases := []struct {
			name   string
			listen func() (net.Listener, error)
			dial   func(net.Addr) (net.Conn, error)
			only   string // kernel name, or "" for every kernel
			unix   bool
		}{
			{name: "unet-tcp/unet-tcp", listen: unetTCP, dial: unetDial},
			{name: "loop-tcp/loop-tcp", listen: func() (net.Listener, error) { return ls.Listen("tcp", "127.0.0.1:0") },
				dial: func(a net.Addr) (net.Conn, error) { return ls.Dial(a.Network(), a.String()) }},
			{name: "unet-unix/unet-unix", unix: true, listen: func() (net.Listener, error) { return s.Listen("unix", unixPath(t, k)) }, dial: unetDial},
			{name: "unet-tcp/net-tcp", only: "host", listen: unetTCP, dial: func(a net.Addr) (net.Conn, error) { return net.Dial("tcp", a.String()) }},
			{name: "net-tcp/unet-tcp", only: "host", listen: func() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }, dial: unetDial},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				if tc.only != "" && k.Name() != tc.only {
					t.Logf("the standard library's net runs on the host only")
					return
				}
				if tc.unix && !unixSupported(t, k) {
					_, err := s.Listen("unix", unixPath(t, k))
					require.Error(t, err)
					var oe *net.OpError
					require.True(t, errors.As(err, &oe), "%T %v", err, err)
					require.True(t, isErrno(err, syscall.EAFNOSUPPORT), "%v", err)
					_, err = s.Dial("unix", "/nonexistent")
					require.True(t, isErrno(err, syscall.EAFNOSUPPORT), "%v", err)
					return
				}
				nettest.TestConn(t, pipe(tc.listen, tc.dial))
			})
		}
	})
}

// TestDefaultKernel checks the package-level functions.
func TestDefaultKernel(t *testing.T) {
	ln, err := unet.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	c1, c2, err := connPair(t, ln, func() (net.Conn, error) { return unet.Dial("tcp", ln.Addr().String()) })
	require.NoError(t, err)
	defer c1.Close()
	defer c2.Close()
	_, err = c1.Write([]byte("hi"))
	require.NoError(t, err)
	buf := make([]byte, 2)
	_, err = c2.Read(buf)
	require.NoError(t, err)
	require.Equal(t, "hi", string(buf))
}
