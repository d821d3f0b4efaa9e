package eloop_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gokernel/gokernel/aio"
	"github.com/gokernel/gokernel/eloop"
	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/libgo"
	"github.com/gokernel/gokernel/sys"
)

func TestPostOrder(t *testing.T) {
	kerneltest.RunBackends(t, func(t *testing.T, k sys.Kernel, backend string) {
		tests := []struct {
			name string
			opts eloop.Options
		}{
			{name: "defaults"},
			{name: "one-per-turn", opts: eloop.Options{MaxTasksPerTurn: 1}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				l, _ := startLoop(t, k, tc.opts)
				const n = 1000
				var got []int
				done := make(chan struct{})
				for i := range n {
					require.NoError(t, l.Post(func() {
						got = append(got, i)
						if i == n-1 {
							close(done)
						}
					}))
				}
				recv(t, done)
				for i, v := range got {
					require.Equal(t, i, v)
				}
				require.Len(t, got, n)
			})
		}
	})
}

func TestPostManyGoroutines(t *testing.T) {
	kerneltest.RunBackends(t, func(t *testing.T, k sys.Kernel, backend string) {
		l, _ := startLoop(t, k, eloop.Options{MaxTasksPerTurn: 7})
		const senders, each = 8, 200
		last := make([]int, senders) // touched on the loop goroutine only
		for i := range last {
			last[i] = -1
		}
		count := 0
		all := make(chan struct{})
		var wg sync.WaitGroup
		for s := range senders {
			wg.Go(func() {
				for i := range each {
					err := l.Post(func() {
						if last[s] != i-1 {
							panic("out of order")
						}
						last[s] = i
						if count++; count == senders*each {
							close(all)
						}
					})
					if err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		recv(t, all)
	})
}

func TestPostAfterStop(t *testing.T) {
	kerneltest.RunBackends(t, func(t *testing.T, k sys.Kernel, backend string) {
		l, err := eloop.New(k, eloop.Options{})
		require.NoError(t, err)
		ran := make(chan struct{})
		require.NoError(t, l.Post(func() { close(ran) })) // before Run
		l.Stop()
		require.NoError(t, l.Run(context.Background()))
		recv(t, ran) // posted before the stop: it ran
		err = l.Post(func() { t.Error("ran after Stop") })
		require.ErrorIs(t, err, net.ErrClosed)
		require.ErrorIs(t, l.Submit(context.Background(), nil, nil), net.ErrClosed)
		require.ErrorIs(t, l.Run(context.Background()), net.ErrClosed)
	})
}

// OnStop's hooks run once, in order, on the loop goroutine when it shuts
// down, while a watch can still be removed; after the stop OnStop fails.
func TestOnStop(t *testing.T) {
	kerneltest.RunBackends(t, func(t *testing.T, k sys.Kernel, _ string) {
		l, err := eloop.New(k, eloop.Options{})
		require.NoError(t, err)
		lc := libgo.New(k)
		efd, err := lc.EventFD(0, 0)
		require.NoError(t, err)
		defer lc.Close(efd)
		id, err := l.Watch(efd, aio.Read, func(aio.Events) {})
		require.NoError(t, err)
		var (
			got    []int
			loopID uint64
			hookID []uint64
		)
		require.NoError(t, l.Post(func() { loopID = goid() }))
		require.NoError(t, l.OnStop(func() {
			got = append(got, 1)
			hookID = append(hookID, goid())
			require.NoError(t, l.Unwatch(id))
		}))
		require.NoError(t, l.OnStop(func() {
			got = append(got, 2)
			hookID = append(hookID, goid())
		}))
		done := make(chan error, 1)
		go func() { done <- l.Run(context.Background()) }()
		require.NotZero(t, loopGoid(t, l))
		l.Stop()
		require.NoError(t, recv(t, done))
		require.Equal(t, []int{1, 2}, got)
		require.Equal(t, []uint64{loopID, loopID}, hookID)
		require.ErrorIs(t, l.OnStop(func() { t.Error("ran after Stop") }), net.ErrClosed)
	})
}

func TestContextCancelStopsRun(t *testing.T) {
	kerneltest.RunBackends(t, func(t *testing.T, k sys.Kernel, backend string) {
		l, err := eloop.New(k, eloop.Options{})
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- l.Run(ctx) }()
		loopGoid(t, l) // the loop is running
		cancel()
		require.ErrorIs(t, recv(t, done), context.Canceled)
		require.ErrorIs(t, l.Post(func() {}), net.ErrClosed)
	})
}

func TestPanicsAreReported(t *testing.T) {
	kerneltest.RunBackends(t, func(t *testing.T, k sys.Kernel, backend string) {
		panics := make(chan any, 10)
		l, _ := startLoop(t, k, eloop.Options{OnPanic: func(v any, stack []byte) {
			require.NotEmpty(t, stack)
			panics <- v
		}})
		require.NoError(t, l.Post(func() { panic("post") }))
		require.Equal(t, "post", recv(t, panics))
		l.AfterFunc(time.Millisecond, func() { panic("timer") })
		require.Equal(t, "timer", recv(t, panics))
		require.NoError(t, l.Submit(context.Background(),
			func(context.Context) (any, error) { return nil, nil },
			func(any, error) { panic("done") }))
		require.Equal(t, "done", recv(t, panics))
		workErr := make(chan error, 1)
		require.NoError(t, l.Submit(context.Background(),
			func(context.Context) (any, error) { panic("work") },
			func(_ any, err error) { workErr <- err }))
		require.Equal(t, "work", recv(t, panics))
		var pe *eloop.PanicError
		require.ErrorAs(t, recv(t, workErr), &pe)
		require.Equal(t, "work", pe.Value)

		lc := libgo.New(k)
		r, w := pipe(t, lc)
		defer lc.Close(r)
		defer lc.Close(w)
		id, err := l.Watch(w, aio.Write|aio.EdgeTriggered, func(aio.Events) { panic("watch") })
		require.NoError(t, err)
		require.Equal(t, "watch", recv(t, panics))
		require.NoError(t, l.Unwatch(id))

		ok := make(chan struct{})
		require.NoError(t, l.Post(func() { close(ok) }))
		recv(t, ok) // the loop goes on
	})
}

func TestPanicWithoutOnPanic(t *testing.T) {
	kerneltest.RunBackends(t, func(t *testing.T, k sys.Kernel, backend string) {
		l, err := eloop.New(k, eloop.Options{})
		require.NoError(t, err)
		done := make(chan error, 1)
		go func() { done <- l.Run(context.Background()) }()
		require.NoError(t, l.Post(func() { panic("first") }))
		require.NoError(t, l.Post(func() { panic("second") }))
		loopGoid(t, l) // still running
		l.Stop()
		var pe *eloop.PanicError
		require.True(t, errors.As(recv(t, done), &pe))
		require.Equal(t, "first", pe.Value)
	})
}
