package unet_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/unet"
)

// Scale of TestScale: concurrent connections per kernel. The host's hard
// RLIMIT_NOFILE here is 20,000, so on the host the clients run in a child
// process (TestScaleClient) and each side holds 10,000 fds.
var scaleConns = map[string]int{"host": 10000, "lkl": 1000}

const scalePayload = 1024

// scaleMessage is connection i's payload.
func scaleMessage(i int) []byte {
	b := make([]byte, scalePayload)
	for j := range b {
		b[j] = byte(i*131 + j*7 + i>>8)
	}
	copy(b, strconv.Itoa(i)+":")
	return b
}

// raiseNofile raises the fd limit of kernel k to at least n (its hard
// limit on the host, where the test cannot raise that).
func raiseNofile(t *testing.T, k sys.Kernel, n uint64) {
	t.Helper()
	var cur unix.Rlimit
	_, _, e := sys.SyscallOn(k, unix.SYS_PRLIMIT64, 0, unix.RLIMIT_NOFILE, 0, uintptr(unsafe.Pointer(&cur)), 0, 0)
	require.Zero(t, e, "prlimit64 get: %v", e)
	want := unix.Rlimit{Cur: max(cur.Cur, n), Max: max(cur.Max, n)}
	if sys.IsHost(k) {
		want = unix.Rlimit{Cur: cur.Max, Max: cur.Max}
	}
	_, _, e = sys.SyscallOn(k, unix.SYS_PRLIMIT64, 0, unix.RLIMIT_NOFILE, uintptr(unsafe.Pointer(&want)), 0, 0, 0)
	require.Zero(t, e, "prlimit64 set: %v", e)
	t.Cleanup(func() {
		sys.SyscallOn(k, unix.SYS_PRLIMIT64, 0, unix.RLIMIT_NOFILE, uintptr(unsafe.Pointer(&cur)), 0, 0, 0)
	})
}

// TestScale holds scaleConns concurrent TCP connections to one unet
// listener: the server echoes nothing until it has accepted every one of
// them, so all are open at once; every byte comes back and is checked.
func TestScale(t *testing.T) {
	kerneltest.RunBackends(t, func(t *testing.T, k sys.Kernel, _ string) {
		n := scaleConns[k.Name()]
		raiseNofile(t, k, uint64(2*n+256))
		s := newStack(t, k)
		ln, err := s.Listen("tcp4", "127.0.0.1:0")
		require.NoError(t, err)
		defer ln.Close()

		all := make(chan struct{})
		var accepted, open, peak atomic.Int64
		var srv sync.WaitGroup
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				p := open.Add(1)
				for {
					old := peak.Load()
					if p <= old || peak.CompareAndSwap(old, p) {
						break
					}
				}
				if accepted.Add(1) == int64(n) {
					close(all)
				}
				srv.Go(func() {
					defer open.Add(-1)
					defer c.Close()
					<-all
					io.CopyBuffer(c, c, make([]byte, 2048))
				})
			}
		}()

		if sys.IsHost(k) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestScaleClient$", "-test.v", "-test.timeout=300s")
			cmd.Env = append(os.Environ(), "UNET_SCALE_ADDR="+ln.Addr().String(), "UNET_SCALE_N="+strconv.Itoa(n))
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "client process:\n%s", out)
		} else {
			require.NoError(t, scaleClients(s, ln.Addr().String(), n))
		}
		srv.Wait()
		require.Equal(t, int64(n), peak.Load(), "connections open at once")
	})
}

// TestScaleClient is TestScale's client process on the host; run on its
// own it only says so.
func TestScaleClient(t *testing.T) {
	addr := os.Getenv("UNET_SCALE_ADDR")
	if addr == "" {
		t.Log("the client side of TestScale; runs in TestScale's child process")
		return
	}
	n, err := strconv.Atoi(os.Getenv("UNET_SCALE_N"))
	require.NoError(t, err)
	s := newStack(t, sys.Host())
	require.NoError(t, scaleClients(s, addr, n))
}

// scaleClients makes n connections to addr, at most 256 dialing at a time,
// each sending its payload, half-closing and checking the echo.
func scaleClients(s *unet.Stack, addr string, n int) error {
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 256)
	for i := range n {
		sem <- struct{}{}
		c, err := dialRetry(s, addr)
		<-sem
		if err != nil {
			return fmt.Errorf("conn %d: %w", i, err)
		}
		wg.Go(func() {
			defer c.Close()
			c.SetDeadline(time.Now().Add(4 * time.Minute))
			want := scaleMessage(i)
			if _, err := c.Write(want); err != nil {
				errs <- fmt.Errorf("conn %d: %w", i, err)
				return
			}
			c.(*unet.TCPConn).CloseWrite()
			got, err := io.ReadAll(c)
			if err != nil || !bytes.Equal(got, want) {
				errs <- fmt.Errorf("conn %d: echo of %d bytes differs (got %d, %v)", i, len(want), len(got), err)
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// dialRetry dials, retrying a refused or timed-out connect (a full
// accept queue) a few times.
func dialRetry(s *unet.Stack, addr string) (net.Conn, error) {
	var err error
	for range 5 {
		var c net.Conn
		if c, err = s.Dial("tcp4", addr); err == nil {
			return c, nil
		}
		if !isErrno(err, syscall.ECONNREFUSED) && !isErrno(err, syscall.ETIMEDOUT) && !isErrno(err, syscall.EAGAIN) {
			return nil, err
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil, err
}
