package aio_test

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gokernel/gokernel/aio"
)

// Retry's loop, without a kernel: a try that would block is called again
// after each readiness notification; a deadline, a cancel or the FD's
// Close ends the wait; an error from try ends the loop at once; a past
// deadline or a closing fd fails before the first try.
func TestRetry(t *testing.T) {
	t.Run("ready", func(t *testing.T) {
		pd := aio.NewPollDesc(aio.Socket)
		tries := 0
		go func() {
			for range 2 {
				time.Sleep(time.Millisecond)
				pd.Notify(aio.Read)
			}
		}()
		require.NoError(t, pd.Retry(aio.ModeRead, nil, func() (bool, error) {
			tries++
			return tries < 3, nil
		}))
		require.Equal(t, 3, tries)
	})
	t.Run("error", func(t *testing.T) {
		pd := aio.NewPollDesc(aio.Socket)
		boom := errors.New("boom")
		tries := 0
		require.ErrorIs(t, pd.Retry(aio.ModeWrite, nil, func() (bool, error) { tries++; return false, boom }), boom)
		require.Equal(t, 1, tries)
	})
	t.Run("past deadline", func(t *testing.T) {
		pd := aio.NewPollDesc(aio.Socket)
		pd.SetDeadline(aio.ModeRead, time.Now().Add(-time.Second))
		require.ErrorIs(t, pd.Retry(aio.ModeRead, nil, func() (bool, error) { t.Fatal("tried after the deadline"); return false, nil }), os.ErrDeadlineExceeded)
		// The other direction is not affected; RetryPrepared skips the check.
		require.NoError(t, pd.Retry(aio.ModeWrite, nil, func() (bool, error) { return false, nil }))
		require.NoError(t, pd.RetryPrepared(aio.ModeRead, nil, func() (bool, error) { return false, nil }))
	})
	t.Run("deadline in wait", func(t *testing.T) {
		pd := aio.NewPollDesc(aio.Socket)
		pd.SetDeadline(aio.ModeWrite, time.Now().Add(20*time.Millisecond))
		require.ErrorIs(t, pd.Retry(aio.ModeWrite, nil, func() (bool, error) { return true, nil }), os.ErrDeadlineExceeded)
	})
	t.Run("cancel", func(t *testing.T) {
		pd := aio.NewPollDesc(aio.Socket)
		cancel := make(chan struct{})
		time.AfterFunc(5*time.Millisecond, func() { close(cancel) })
		require.ErrorIs(t, pd.Retry(aio.ModeRead, cancel, func() (bool, error) { return true, nil }), aio.ErrCanceled)
	})
	t.Run("close", func(t *testing.T) {
		var fd aio.FD
		fd.Init(-1, aio.Socket, aio.NewPollDesc(aio.Socket))
		waiting := make(chan struct{})
		done := make(chan error, 1)
		go func() {
			first := true
			done <- fd.ReadRetry(func() (bool, error) {
				if first {
					first = false
					close(waiting)
				}
				return true, nil
			})
		}()
		<-waiting
		released := false
		require.NoError(t, fd.Close(func() error { released = true; return nil }))
		require.True(t, released)
		require.ErrorIs(t, <-done, net.ErrClosed)
		require.ErrorIs(t, fd.WriteRetry(func() (bool, error) { t.Fatal("tried after Close"); return false, nil }), net.ErrClosed)
	})
}

// CloseNoWait does not wait: idle when no call holds the FD, else
// WaitClose returns once the last call is done; a second close fails.
func TestCloseNoWait(t *testing.T) {
	var fd aio.FD
	fd.Init(-1, aio.File, nil)
	idle, err := fd.CloseNoWait()
	require.NoError(t, err)
	require.True(t, idle)
	_, err = fd.CloseNoWait()
	require.ErrorIs(t, err, fs.ErrClosed)
	require.ErrorIs(t, fd.Close(func() error { t.Error("released twice"); return nil }), fs.ErrClosed)

	var busy aio.FD
	busy.Init(-1, aio.File, nil)
	require.NoError(t, busy.Incref())
	idle, err = busy.CloseNoWait()
	require.NoError(t, err)
	require.False(t, idle, "a call holds a reference")
	require.ErrorIs(t, busy.Incref(), fs.ErrClosed)
	waited := make(chan struct{})
	go func() { busy.WaitClose(); close(waited) }()
	select {
	case <-waited:
		t.Fatal("WaitClose returned while a call held a reference")
	case <-time.After(10 * time.Millisecond):
	}
	busy.Decref()
	<-waited
}
