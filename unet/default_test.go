package unet_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/gokernel/gokernel/unet"
)

// TestDefaultStackIdle: the default Stack is made once and kept (it is
// never closed), and it holds no goroutine once its sockets are closed, so
// leaving it open for the process's life leaks nothing.
func TestDefaultStackIdle(t *testing.T) {
	before := goleak.IgnoreCurrent()
	s1, err := unet.Default()
	require.NoError(t, err)
	ln, err := unet.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	c, err := unet.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	a, err := ln.Accept()
	require.NoError(t, err)
	require.NoError(t, c.Close())
	require.NoError(t, a.Close())
	require.NoError(t, ln.Close())
	s2, err := unet.Default()
	require.NoError(t, err)
	require.Same(t, s1, s2, "Default made a second Stack for the same kernel")
	goleak.VerifyNone(t, before)
}
