package unet_test

import (
	"context"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gokernel/gokernel/eloop"
	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/unet"
)

// failAfter is how long a test waits for something that should happen.
const failAfter = 20 * time.Second

// newStack makes a Stack on k, closed when the test ends.
func newStack(t testing.TB, k sys.Kernel) *unet.Stack {
	t.Helper()
	s, err := unet.New(k, unet.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

// startLoop runs an eloop.Loop on k in a goroutine. stop stops it and
// checks that Run returned nil; it runs once, at the test's end if the
// test did not call it.
func startLoop(t testing.TB, k sys.Kernel) (l *eloop.Loop, stop func()) {
	t.Helper()
	l, err := eloop.New(k, eloop.Options{})
	require.NoError(t, err)
	ran := make(chan error, 1)
	go func() { ran <- l.Run(context.Background()) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			l.Stop()
			require.NoError(t, <-ran)
		})
	}
	t.Cleanup(stop)
	return l, stop
}

// newLoopStack makes a Stack on k bound to a running eloop.Loop
// (Options.Loop). When the test ends the Stack is closed, then the Loop
// stopped.
func newLoopStack(t testing.TB, k sys.Kernel) *unet.Stack {
	t.Helper()
	l, _ := startLoop(t, k)
	s, err := unet.New(k, unet.Options{Loop: l})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() }) // before startLoop's cleanup
	return s
}

// unixSupported reports whether k has AF_UNIX, stating the difference
// when it has not.
func unixSupported(t testing.TB, k sys.Kernel) bool {
	return !kerneltest.Differs(t, k, "lkl", "the pruned LKL build has no AF_UNIX: unix networks fail with EAFNOSUPPORT")
}

// tcpPipe returns both ends of a TCP connection made with ln's stack and
// dial.
func connPair(t testing.TB, ln net.Listener, dial func() (net.Conn, error)) (net.Conn, net.Conn, error) {
	t.Helper()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := ln.Accept()
		ch <- res{c, err}
	}()
	c1, err := dial()
	if err != nil {
		return nil, nil, err
	}
	r := <-ch
	if r.err != nil {
		c1.Close()
		return nil, nil, r.err
	}
	return c1, r.c, nil
}

// unixPath returns a socket path for the test on k.
func unixPath(t testing.TB, k sys.Kernel) string {
	return kerneltest.TempDir(t, k) + "/sock"
}

// isErrno reports whether err wraps e.
func isErrno(err error, e syscall.Errno) bool {
	var got syscall.Errno
	for err != nil {
		if x, ok := err.(syscall.Errno); ok {
			got = x
			break
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			break
		}
		err = u.Unwrap()
	}
	return got == e
}

// time0 is a deadline long past.
func time0() time.Time { return time.Unix(1, 0) }

func asNetErr(err error, ne *net.Error) bool {
	e, ok := err.(net.Error)
	*ne = e
	return ok
}
