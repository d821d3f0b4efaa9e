package aio_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gokernel/gokernel/aio"
	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/libgo"
	"github.com/gokernel/gokernel/sys"
)

// TestWaiter: on the host, the Wait after one that found events does not
// block (timeout 0), and the one after that uses the caller's timeout
// again; on LKL every Wait uses the caller's timeout.
func TestWaiter(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		wk := newWatchKernel(k)
		p := newPoller(t, wk)
		fds, _ := pipe(t, libgo.New(k))
		require.NoError(t, p.Add(fds[0], aio.Read|aio.EdgeTriggered, 7))
		_, err := libgo.New(k).Write(fds[1], []byte("x"))
		require.NoError(t, err)

		w := p.NewWaiter()
		var evs [4]aio.Event
		for i, want := range []int{1, 0, 0} {
			n, err := w.Wait(evs[:], 20*time.Millisecond)
			require.NoError(t, err)
			require.Equal(t, want, n, "Wait %d", i+1)
		}
		want := []int{20, 20, 20}
		if k.Name() == "host" {
			want = []int{20, 0, 20}
		}
		require.Equal(t, want, wk.waitTimeouts())
	})
}
