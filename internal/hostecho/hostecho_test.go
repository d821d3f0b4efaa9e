package hostecho_test

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/gokernel/gokernel/internal/hostecho"
)

// TestServers checks the TCP echo, a UDP reply, and that Close ends
// every goroutine even with a connection still open.
func TestServers(t *testing.T) {
	defer goleak.VerifyNone(t)
	s := hostecho.New()
	tcp, err := s.TCP()
	require.NoError(t, err)
	udp, err := s.UDP(func(b []byte) []byte { return append([]byte("re:"), b...) })
	require.NoError(t, err)

	c, err := net.Dial("tcp", tcp.String())
	require.NoError(t, err)
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	_, err = c.Write([]byte("ping"))
	require.NoError(t, err)
	buf := make([]byte, 8)
	_, err = io.ReadFull(c, buf[:4])
	require.NoError(t, err)
	require.Equal(t, "ping", string(buf[:4]))

	u, err := net.Dial("udp", udp.String())
	require.NoError(t, err)
	defer u.Close()
	u.SetDeadline(time.Now().Add(10 * time.Second))
	_, err = u.Write([]byte("q"))
	require.NoError(t, err)
	n, err := u.Read(buf)
	require.NoError(t, err)
	require.Equal(t, "re:q", string(buf[:n]))

	s.Close() // c is still open: Close closes the server's end
	_, err = c.Read(buf)
	require.ErrorIs(t, err, io.EOF)
	_, err = s.TCP()
	require.ErrorIs(t, err, net.ErrClosed)
	_, err = s.UDP(nil)
	require.ErrorIs(t, err, net.ErrClosed)
}
