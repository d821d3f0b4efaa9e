package eloop_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gokernel/gokernel/eloop"
	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/sys"
)

func TestTimersFireInDeadlineOrder(t *testing.T) {
	kerneltest.RunBackends(t, func(t *testing.T, k sys.Kernel, backend string) {
		l, _ := startLoop(t, k, eloop.Options{})
		got := make(chan int, 10)
		// Made in one task, so that no timer fires while they are made.
		delays := []time.Duration{3, 1, 2, 1, 0} // × 50 ms; ties fire in creation order
		require.NoError(t, l.Post(func() {
			for i, d := range delays {
				l.AfterFunc(d*50*time.Millisecond, func() { got <- i })
			}
		}))
		for _, want := range []int{4, 1, 3, 2, 0} {
			require.Equal(t, want, recv(t, got))
		}
	})
}

func TestTimerStopAndReset(t *testing.T) {
	kerneltest.RunBackends(t, func(t *testing.T, k sys.Kernel, backend string) {
		l, _ := startLoop(t, k, eloop.Options{})
		got := make(chan string, 10)
		stopped := l.AfterFunc(time.Millisecond, func() { got <- "stopped" })
		require.True(t, stopped.Stop())
		require.False(t, stopped.Stop())

		// Reset moves a timer earlier: it would not fire for an hour.
		moved := l.AfterFunc(time.Hour, func() { got <- "moved" })
		require.True(t, moved.Reset(time.Millisecond))
		require.Equal(t, "moved", recv(t, got))

		// Reset moves a timer later; made in one task, so that it cannot
		// fire before the Reset.
		var later *eloop.Timer
		require.NoError(t, l.Post(func() {
			later = l.AfterFunc(time.Millisecond, func() { got <- "later" })
			require.True(t, later.Reset(time.Hour))
			l.AfterFunc(5*time.Millisecond, func() { got <- "first" })
		}))
		require.Equal(t, "first", recv(t, got))
		require.True(t, later.Stop()) // still pending

		require.False(t, moved.Stop()) // fired
		require.False(t, moved.Reset(time.Millisecond))
		require.Equal(t, "moved", recv(t, got)) // fires again after Reset

		require.False(t, stopped.Reset(time.Millisecond)) // a stopped timer starts again
		require.Equal(t, "stopped", recv(t, got))
		// Nothing else: a last timer marks the end.
		l.AfterFunc(5*time.Millisecond, func() { got <- "end" })
		require.Equal(t, "end", recv(t, got))
	})
}

func TestTimersMadeInCallbacks(t *testing.T) {
	kerneltest.RunBackends(t, func(t *testing.T, k sys.Kernel, backend string) {
		l, _ := startLoop(t, k, eloop.Options{})
		got := make(chan int, 10)
		var step func(i int)
		step = func(i int) {
			got <- i
			if i < 5 {
				l.AfterFunc(time.Duration(i)*time.Millisecond, func() { step(i + 1) })
			}
		}
		l.AfterFunc(0, func() { step(0) })
		for i := range 6 {
			require.Equal(t, i, recv(t, got))
		}
		// A timer that resets itself from its callback.
		n := 0
		var tm *eloop.Timer
		fired := make(chan struct{})
		require.NoError(t, l.Post(func() {
			tm = l.AfterFunc(0, func() {
				if n++; n < 3 {
					tm.Reset(0)
					return
				}
				close(fired)
			})
		}))
		recv(t, fired)
	})
}
