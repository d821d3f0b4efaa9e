package xsysnum_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/internal/xsysnum"
)

func TestNumbersMatchXSys(t *testing.T) {
	dir, err := xsysnum.UnixDir()
	require.NoError(t, err)
	nums, err := xsysnum.Numbers(dir, "amd64")
	require.NoError(t, err)
	require.Equal(t, unix.SYS_OPENAT, nums["openat"])
	require.Equal(t, unix.SYS_GETPID, nums["getpid"])
	require.Equal(t, unix.SYS_EPOLL_PWAIT, nums["epoll_pwait"])
	_, err = xsysnum.Numbers(dir, "nosucharch")
	require.Error(t, err)
}
