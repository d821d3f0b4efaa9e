package eloop_test

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/aio"
	"github.com/gokernel/gokernel/eloop"
	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/libgo"
	"github.com/gokernel/gokernel/sys"
)

// pipe makes a non-blocking pipe with lc; the caller closes its ends.
func pipe(t *testing.T, lc *libgo.Libc) (r, w int) {
	t.Helper()
	p, err := lc.Pipe2(unix.O_NONBLOCK | unix.O_CLOEXEC)
	require.NoError(t, err)
	return p[0], p[1]
}

func TestWatchPipe(t *testing.T) {
	kerneltest.RunBackends(t, func(t *testing.T, k sys.Kernel, backend string) {
		lc := libgo.New(k)
		l, _ := startLoop(t, k, eloop.Options{})
		r, w := pipe(t, lc)
		defer lc.Close(r)
		defer lc.Close(w)
		got := make(chan aio.Events, 10)
		buf := make([]byte, 16)
		id, err := l.Watch(r, aio.Read, func(ev aio.Events) {
			lc.Read(r, buf) // drain, so level-triggered reports stop
			got <- ev
		})
		require.NoError(t, err)
		_, err = lc.Write(w, []byte("x"))
		require.NoError(t, err)
		require.NotZero(t, recv(t, got)&aio.Read)

		require.NoError(t, l.Unwatch(id))
		require.ErrorIs(t, l.Unwatch(id), os.ErrInvalid)
	})
}

func TestUnwatchStopsEvents(t *testing.T) {
	kerneltest.RunBackends(t, func(t *testing.T, k sys.Kernel, backend string) {
		lc := libgo.New(k)
		l, _ := startLoop(t, k, eloop.Options{})
		r, w := pipe(t, lc)
		defer lc.Close(w)
		old, err := l.Watch(r, aio.Read, func(aio.Events) { t.Error("old watch called") })
		require.NoError(t, err)
		require.NoError(t, l.Unwatch(old))
		_, err = lc.Write(w, []byte("x")) // readable now, but not watched
		require.NoError(t, err)
		require.NoError(t, lc.Close(r))

		// A new pipe takes the old fd number and the old slot; an event
		// still carrying the old token must not reach the new watch.
		r2, w2 := pipe(t, lc)
		defer lc.Close(r2)
		defer lc.Close(w2)
		got := make(chan uint64, 10)
		var id2 eloop.WatchID
		id2, err = l.Watch(r2, aio.Read, func(aio.Events) { got <- uint64(id2) })
		require.NoError(t, err)
		require.NotEqual(t, old, id2)
		require.Equal(t, uint32(old), uint32(id2), "slot reused")

		done := make(chan struct{})
		require.NoError(t, l.Post(func() {
			l.Dispatch(uint64(old), aio.Read) // stale: dropped
			close(done)
		}))
		recv(t, done)
		select {
		case <-got:
			t.Fatal("stale event delivered to the new watch")
		default:
		}
		require.NoError(t, l.Post(func() { l.Dispatch(uint64(id2), aio.Read) }))
		require.Equal(t, uint64(id2), recv(t, got))
		require.NoError(t, l.Unwatch(id2))
	})
}
