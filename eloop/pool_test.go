package eloop_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gokernel/gokernel/eloop"
	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/sys"
)

// result is what a done callback got, and on which goroutine.
type result struct {
	v    any
	err  error
	goid uint64
}

func TestSubmitDeliversOnLoop(t *testing.T) {
	kerneltest.RunBackends(t, func(t *testing.T, k sys.Kernel, backend string) {
		l, _ := startLoop(t, k, eloop.Options{})
		loop := loopGoid(t, l)
		got := make(chan result, 10)
		errBoom := errors.New("boom")
		tests := []struct {
			name string
			v    any
			err  error
		}{
			{name: "value", v: 42},
			{name: "error", err: errBoom},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				var workG atomic.Uint64
				require.NoError(t, l.Submit(context.Background(),
					func(context.Context) (any, error) { workG.Store(goid()); return tc.v, tc.err },
					func(v any, err error) { got <- result{v, err, goid()} }))
				r := recv(t, got)
				require.Equal(t, tc.v, r.v)
				require.Equal(t, tc.err, r.err)
				require.Equal(t, loop, r.goid)
				require.NotEqual(t, loop, workG.Load())
			})
		}
	})
}

// blockWorkers submits one work per worker that blocks until release is
// closed, and waits until all have started.
func blockWorkers(t *testing.T, l *eloop.Loop, workers int, release <-chan struct{}) {
	t.Helper()
	started := make(chan struct{}, workers)
	for range workers {
		require.NoError(t, l.Submit(context.Background(), func(context.Context) (any, error) {
			started <- struct{}{}
			<-release
			return nil, nil
		}, func(any, error) {}))
	}
	for range workers {
		recv(t, started)
	}
}

func TestSubmitBackPressure(t *testing.T) {
	kerneltest.RunBackends(t, func(t *testing.T, k sys.Kernel, backend string) {
		l, _ := startLoop(t, k, eloop.Options{Workers: 1, QueueSize: 1})
		release := make(chan struct{})
		blockWorkers(t, l, 1, release)
		nop := func(context.Context) (any, error) { return nil, nil }
		got := make(chan error, 10)
		done := func(_ any, err error) { got <- err }
		require.NoError(t, l.Submit(context.Background(), nop, done)) // fills the queue

		// Full: a cancelled ctx returns at once.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		require.ErrorIs(t, l.Submit(ctx, nop, done), context.Canceled)

		// Full: Submit blocks until the worker frees a slot.
		submitted := make(chan error, 1)
		go func() { submitted <- l.Submit(context.Background(), nop, done) }()
		select {
		case <-submitted:
			t.Fatal("Submit returned while the queue was full")
		default:
		}
		close(release)
		require.NoError(t, recv(t, submitted))
		require.NoError(t, recv(t, got))
		require.NoError(t, recv(t, got))
	})
}

func TestSubmitCancelledBeforeStart(t *testing.T) {
	kerneltest.RunBackends(t, func(t *testing.T, k sys.Kernel, backend string) {
		l, _ := startLoop(t, k, eloop.Options{Workers: 2})
		release := make(chan struct{})
		blockWorkers(t, l, 2, release)
		ctx, cancel := context.WithCancel(context.Background())
		got := make(chan error, 1)
		require.NoError(t, l.Submit(ctx, func(context.Context) (any, error) {
			t.Error("cancelled work ran")
			return nil, nil
		}, func(_ any, err error) { got <- err }))
		cancel()
		close(release)
		require.ErrorIs(t, recv(t, got), context.Canceled)
	})
}

func TestStopSettlesEveryWork(t *testing.T) {
	kerneltest.RunBackends(t, func(t *testing.T, k sys.Kernel, backend string) {
		l, err := eloop.New(k, eloop.Options{Workers: 2, QueueSize: 16})
		require.NoError(t, err)
		runDone := make(chan error, 1)
		go func() { runDone <- l.Run(context.Background()) }()

		release := make(chan struct{})
		var mu sync.Mutex
		calls := map[int]int{}
		var ran, closed atomic.Int32
		const n = 12
		started := make(chan struct{}, n)
		for i := range n {
			require.NoError(t, l.Submit(context.Background(), func(context.Context) (any, error) {
				started <- struct{}{}
				<-release
				return i, nil
			}, func(v any, err error) {
				mu.Lock()
				calls[i]++
				mu.Unlock()
				switch {
				case err == nil:
					ran.Add(1)
				case errors.Is(err, net.ErrClosed):
					closed.Add(1)
				default:
					t.Errorf("done(%d): %v", i, err)
				}
			}))
		}
		recv(t, started) // at least one is running
		l.Stop()
		close(release) // running work ends; Run waits for it
		require.NoError(t, recv(t, runDone))
		require.Len(t, calls, n)
		for i, c := range calls {
			require.Equal(t, 1, c, "done(%d) calls", i)
		}
		require.GreaterOrEqual(t, ran.Load(), int32(1))
		require.Equal(t, int32(n), ran.Load()+closed.Load())
	})
}
