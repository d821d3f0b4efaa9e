package eloop_test

import (
	"bytes"
	"context"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gokernel/gokernel/eloop"
	"github.com/gokernel/gokernel/sys"
)

// failAfter is how long a test waits for something that should happen.
const failAfter = 10 * time.Second

// startLoop makes a Loop on k and runs it on a new goroutine until the
// test ends; the returned channel gets Run's result.
func startLoop(t *testing.T, k sys.Kernel, opts eloop.Options) (*eloop.Loop, <-chan error) {
	t.Helper()
	l, err := eloop.New(k, opts)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- l.Run(context.Background()) }()
	t.Cleanup(func() {
		l.Stop()
		select {
		case <-done:
		case <-time.After(failAfter):
			t.Error("Run did not return after Stop")
		}
	})
	return l, done
}

// recv receives from c, failing the test after failAfter.
func recv[T any](t *testing.T, c <-chan T) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(failAfter):
		t.Fatal("timed out")
		panic("unreachable")
	}
}

// goid returns the calling goroutine's id.
func goid() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	b = b[:bytes.IndexByte(b, ' ')]
	id, _ := strconv.ParseUint(string(b), 10, 64)
	return id
}

// loopGoid returns the id of l's goroutine, found through a Post.
func loopGoid(t *testing.T, l *eloop.Loop) uint64 {
	t.Helper()
	c := make(chan uint64, 1)
	require.NoError(t, l.Post(func() { c <- goid() }))
	return recv(t, c)
}
