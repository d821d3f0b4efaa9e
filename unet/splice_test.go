package unet_test

import (
	"bytes"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/unet"
)

// TestReadFrom checks the io.ReaderFrom fast paths: socket to socket
// (splice) on every kernel, a host file (sendfile) and a plain reader.
func TestReadFrom(t *testing.T) {
	kerneltest.RunBackends(t, func(t *testing.T, k sys.Kernel, _ string) {
		ck := &countKernel{Kernel: k}
		s := newStack(t, ck)
		ln, err := s.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer ln.Close()
		pair := func() (*unet.TCPConn, *unet.TCPConn) {
			c1, c2, err := connPair(t, ln, func() (net.Conn, error) { return s.Dial("tcp", ln.Addr().String()) })
			require.NoError(t, err)
			t.Cleanup(func() { c1.Close(); c2.Close() })
			return c1.(*unet.TCPConn), c2.(*unet.TCPConn)
		}
		data := make([]byte, 3<<20+17)
		for i := range data {
			data[i] = byte(rand.Uint32())
		}
		file := filepath.Join(t.TempDir(), "data")
		require.NoError(t, os.WriteFile(file, data, 0o644))
		cases := []struct {
			name  string
			limit int64   // 0: no io.LimitedReader
			trap  uintptr // the call the fast path makes, or 0
			src   func(t *testing.T) io.Reader
		}{
			{name: "tcp-splice", trap: unix.SYS_SPLICE, src: func(t *testing.T) io.Reader {
				in, feed := pair()
				go func() { feed.Write(data); feed.CloseWrite() }()
				return in
			}},
			{name: "tcp-splice-limited", limit: 1<<20 + 3, trap: unix.SYS_SPLICE, src: func(t *testing.T) io.Reader {
				in, feed := pair()
				go func() { feed.Write(data); feed.CloseWrite() }()
				return in
			}},
			{name: "host-file", trap: unix.SYS_SENDFILE, src: func(t *testing.T) io.Reader {
				f, err := os.Open(file)
				require.NoError(t, err)
				t.Cleanup(func() { f.Close() })
				return f
			}},
			{name: "plain-reader", limit: 12345, src: func(t *testing.T) io.Reader { return bytes.NewReader(data) }},
		}
		t.Run("close-during-splice", func(t *testing.T) {
			in, _ := pair() // nothing comes in: the splice waits
			out, _ := pair()
			done := make(chan error, 1)
			go func() { _, err := out.ReadFrom(in); done <- err }()
			time.Sleep(20 * time.Millisecond)
			out.Close()
			require.ErrorIs(t, <-done, net.ErrClosed)
		})
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				out, sink := pair()
				src := tc.src(t)
				trap := tc.trap
				if trap == unix.SYS_SENDFILE && kerneltest.Differs(t, k, "lkl", "an *os.File is a host fd: LKL copies it through a buffer") {
					trap = 0
				}
				before := ck.count(trap)
				want := data
				if tc.limit > 0 {
					src, want = io.LimitReader(src, tc.limit), data[:tc.limit]
				}
				got := make(chan []byte, 1)
				go func() { b, _ := io.ReadAll(sink); got <- b }()
				n, err := out.ReadFrom(src) // as net/http calls it; io.Copy would take os.File.WriteTo first
				require.NoError(t, err)
				require.Equal(t, int64(len(want)), n)
				out.CloseWrite()
				require.True(t, bytes.Equal(want, <-got), "bytes differ")
				if trap != 0 {
					require.Greater(t, ck.count(trap), before, "the fast path made no %d call", trap)
				}
			})
		}
	})
}

// countKernel counts the calls made through it, by number.
type countKernel struct {
	sys.Kernel
	calls sync.Map // trap → *atomic.Int64
}

func (c *countKernel) Syscall(trap, a1, a2, a3, a4, a5, a6 uintptr) (uintptr, uintptr, sys.Errno) {
	v, _ := c.calls.LoadOrStore(trap, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
	return c.Kernel.Syscall(trap, a1, a2, a3, a4, a5, a6)
}

func (c *countKernel) count(trap uintptr) int64 {
	if v, ok := c.calls.Load(trap); ok {
		return v.(*atomic.Int64).Load()
	}
	return 0
}

// IsHost passes the inner kernel's capability on (sys.HostKernel).
func (c *countKernel) IsHost() bool { return sys.IsHost(c.Kernel) }
