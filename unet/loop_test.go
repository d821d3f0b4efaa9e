package unet_test

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/unet"
)

// otherKernel is k under another identity: a Kernel value that is not k.
type otherKernel struct{ sys.Kernel }

// TestLoopOption checks a Stack bound to an eloop.Loop: it takes the
// Loop's kernel, refuses a Loop of another kernel, a blocked Read
// returns net.ErrClosed when the Stack closes, and after the Loop has
// stopped new sockets fail with net.ErrClosed and fds are not leaked.
func TestLoopOption(t *testing.T) {
	kerneltest.RunBackends(t, func(t *testing.T, k sys.Kernel, _ string) {
		kerneltest.CheckFDs(t, k)
		l, stopLoop := startLoop(t, k)

		_, err := unet.New(&otherKernel{k}, unet.Options{Loop: l})
		require.ErrorContains(t, err, "Options.Loop runs on kernel")

		s, err := unet.New(nil, unet.Options{Loop: l})
		require.NoError(t, err)
		require.Equal(t, k, s.Kernel())

		ln, err := s.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		c1, c2, err := connPair(t, ln, func() (net.Conn, error) { return s.Dial("tcp", ln.Addr().String()) })
		require.NoError(t, err)
		_, err = c1.Write([]byte("ping"))
		require.NoError(t, err)
		buf := make([]byte, 8)
		n, err := c2.Read(buf)
		require.NoError(t, err)
		require.Equal(t, "ping", string(buf[:n]))

		read := make(chan error, 1)
		go func() { _, err := c1.Read(buf); read <- err }()
		time.Sleep(20 * time.Millisecond) // let the Read block
		require.NoError(t, s.Close())
		select {
		case err := <-read:
			require.ErrorIs(t, err, net.ErrClosed)
		case <-time.After(failAfter):
			t.Fatal("Stack.Close did not wake a blocked Read")
		}

		stopLoop()
		s2, err := unet.New(k, unet.Options{Loop: l})
		require.NoError(t, err)
		_, err = s2.Listen("tcp", "127.0.0.1:0")
		require.True(t, errors.Is(err, net.ErrClosed), "listen on a stopped Loop: %v", err)
		require.NoError(t, s2.Close())
	})
}
