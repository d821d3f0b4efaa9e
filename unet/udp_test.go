package unet_test

import (
	"bytes"
	"net"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/unet"
)

// TestUDP checks datagram boundaries, truncation and connected and
// unconnected sockets, on every kernel.
func TestUDP(t *testing.T) {
	kerneltest.RunBackends(t, func(t *testing.T, k sys.Kernel, _ string) {
		s := newStack(t, k)
		srvPC, err := s.ListenPacket("udp4", "127.0.0.1:0")
		require.NoError(t, err)
		defer srvPC.Close()
		srv := srvPC.(*unet.UDPConn)
		srvAddr := srv.LocalAddr().(*net.UDPAddr)

		t.Run("boundaries", func(t *testing.T) {
			c, err := s.Dial("udp", srvAddr.String())
			require.NoError(t, err)
			defer c.Close()
			msgs := [][]byte{[]byte("a"), bytes.Repeat([]byte("b"), 1000), {}, []byte("ccc")}
			for _, m := range msgs {
				n, err := c.Write(m)
				require.NoError(t, err)
				require.Equal(t, len(m), n)
			}
			buf := make([]byte, 2000)
			for _, m := range msgs {
				n, from, err := srv.ReadFromUDP(buf)
				require.NoError(t, err)
				require.Equal(t, m, buf[:n])
				require.Equal(t, c.LocalAddr().String(), from.String())
			}
		})
		t.Run("truncation", func(t *testing.T) {
			c, err := s.Dial("udp4", srvAddr.String())
			require.NoError(t, err)
			defer c.Close()
			_, err = c.Write([]byte("0123456789"))
			require.NoError(t, err)
			_, err = c.Write([]byte("xy"))
			require.NoError(t, err)
			buf := make([]byte, 4)
			n, _, flags, _, err := srv.ReadMsgUDP(buf, nil)
			require.NoError(t, err)
			require.Equal(t, "0123", string(buf[:n]))
			require.NotZero(t, flags&unix.MSG_TRUNC, "MSG_TRUNC")
			n, _, flags, _, err = srv.ReadMsgUDP(buf, nil)
			require.NoError(t, err)
			require.Equal(t, "xy", string(buf[:n]), "the rest of a datagram is dropped")
			require.Zero(t, flags&unix.MSG_TRUNC)
		})
		t.Run("unconnected", func(t *testing.T) {
			pc, err := s.ListenPacket("udp4", "127.0.0.1:0")
			require.NoError(t, err)
			defer pc.Close()
			c := pc.(*unet.UDPConn)
			_, err = c.WriteToUDP([]byte("ping"), srvAddr)
			require.NoError(t, err)
			buf := make([]byte, 16)
			n, from, err := srv.ReadFrom(buf)
			require.NoError(t, err)
			require.Equal(t, "ping", string(buf[:n]))
			_, err = srv.WriteTo([]byte("pong"), from)
			require.NoError(t, err)
			n, ap, err := c.ReadFromUDPAddrPort(buf)
			require.NoError(t, err)
			require.Equal(t, "pong", string(buf[:n]))
			require.Equal(t, srvAddr.AddrPort().String(), ap.String())
			_, _, err = c.WriteMsgUDP([]byte("msg"), nil, srvAddr)
			require.NoError(t, err)
			n, _, err = srv.ReadFrom(buf)
			require.NoError(t, err)
			require.Equal(t, "msg", string(buf[:n]))
		})
		t.Run("connected-refused", func(t *testing.T) {
			addr := heldPort(t, k, unix.SOCK_DGRAM)
			c, err := s.Dial("udp4", addr)
			require.NoError(t, err)
			defer c.Close()
			_, err = c.Write([]byte("x"))
			require.NoError(t, err)
			_, err = c.Read(make([]byte, 1))
			require.True(t, isErrno(err, unix.ECONNREFUSED), "%v", err)
		})
	})
}
