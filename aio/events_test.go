package aio_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/aio"
)

func TestEventsToLinux(t *testing.T) {
	tests := []struct {
		name  string
		ev    aio.Events
		linux uint32
	}{
		{"none", 0, 0},
		{"Read", aio.Read, unix.EPOLLIN},
		{"Write", aio.Write, unix.EPOLLOUT},
		{"RDHUP", aio.RDHUP, unix.EPOLLRDHUP},
		{"HUP", aio.HUP, unix.EPOLLHUP},
		{"Error", aio.Error, unix.EPOLLERR},
		{"EdgeTriggered", aio.EdgeTriggered, unix.EPOLLET},
		{"OneShot", aio.OneShot, unix.EPOLLONESHOT},
		{"the runtime's registration", aio.Read | aio.Write | aio.RDHUP | aio.EdgeTriggered,
			unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.linux, aio.ToLinux(tc.ev))
			if tc.ev&(aio.EdgeTriggered|aio.OneShot) == 0 {
				require.Equal(t, tc.ev, aio.FromLinux(tc.linux), "reported back")
			}
		})
	}
	// The kernel's bits are not aio's: the conversions are not identities.
	require.NotEqual(t, uint32(aio.Write), aio.ToLinux(aio.Write))
}

func TestEventsFromLinuxDropsUnknown(t *testing.T) {
	require.Equal(t, aio.Read|aio.HUP, aio.FromLinux(unix.EPOLLIN|unix.EPOLLPRI|unix.EPOLLHUP|unix.EPOLLMSG))
	require.Zero(t, aio.FromLinux(unix.EPOLLET|unix.EPOLLONESHOT), "options are never reported")
}

func TestEventsString(t *testing.T) {
	tests := []struct {
		ev   aio.Events
		want string
	}{
		{0, "0"},
		{aio.Read, "Read"},
		{aio.Read | aio.RDHUP | aio.HUP, "Read|RDHUP|HUP"},
		{aio.Write | aio.Error, "Write|Error"},
		{aio.Read | aio.EdgeTriggered | aio.OneShot, "Read|EdgeTriggered|OneShot"},
		{aio.Write | 1<<20, "Write|0x100000"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			require.Equal(t, tc.want, tc.ev.String())
		})
	}
}

func TestWaitMsec(t *testing.T) {
	tests := []struct {
		name string
		d    time.Duration
		want int
	}{
		{"no limit", -1, -1},
		{"any negative", -time.Hour, -1},
		{"poll", 0, 0},
		{"1 ns rounds up", 1, 1},
		{"under 1 ms rounds up", 999 * time.Microsecond, 1},
		{"1 ms", time.Millisecond, 1},
		{"a part of a ms rounds up", time.Millisecond + 1, 2},
		{"1.5 s", 1500 * time.Millisecond, 1500},
		{"a day", 24 * time.Hour, 86_400_000},
		{"just under the cap", 1e9*time.Millisecond - 1, 1e9},
		{"the cap", 1e9 * time.Millisecond, 1e9},
		{"huge", 1<<63 - 1, 1e9},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, aio.WaitMsec(tc.d))
		})
	}
}
