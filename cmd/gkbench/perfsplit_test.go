package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// A perf script excerpt: one sample per kind, as perf prints them with
// -F ip,sym,dso (a header line with other fields is skipped).
const perfScript = `gkbench 123 [000] 1.0: cpu-clock:
	ffffffff8b000001 tcp_sendmsg_locked+0x10 ([kernel.kallsyms])
	ffffffff8b000002 tcp_sendmsg+0x30 ([kernel.kallsyms])
	ffffffff8b000003 do_syscall_64+0x50 ([kernel.kallsyms])
	4a0001 internal/runtime/syscall/linux.Syscall6+0x1 (/tmp/gkbench)
	4a0002 net/http.(*conn).serve+0x2 (/tmp/gkbench)

	ffffffff8b000004 entry_SYSCALL_64_after_hwframe+0x4 ([kernel.kallsyms])
	4a0003 syscall.Syscall6+0x3 (/tmp/gkbench)

	ffffffff8b000005 do_epoll_wait+0x5 ([kernel.kallsyms])
	4a0004 runtime.netpoll+0x4 (/tmp/gkbench)

	4a0005 runtime.futex.abi0+0x5 (/tmp/gkbench)
	4a0006 runtime.futex+0x6 (/tmp/gkbench)
	4a0007 runtime.notesleep+0x7 (/tmp/gkbench)

	4a0008 runtime.usleep.abi0+0x8 (/tmp/gkbench)
	4a0009 runtime.sysmon+0x9 (/tmp/gkbench)

	4a000a net/http.(*Request).write+0xa (/tmp/gkbench)

	4a000b runtime.scanobject+0xb (/tmp/gkbench)
	4a000c runtime.gcDrain+0xc (/tmp/gkbench)

	ffffffff8b000006 path_openat+0x6 ([kernel.kallsyms])
	ffffffff8b000007 do_sys_openat2+0x7 ([kernel.kallsyms])

	4a000d github.com/gokernel/gokernel/unet.(*conn).Read+0xd (/tmp/gkbench)

	4a000e main.somethingElse+0xe (/tmp/gkbench)
`

func TestPerfSplit(t *testing.T) {
	s, err := splitSamples(strings.NewReader(perfScript))
	require.NoError(t, err)
	require.Equal(t, 10, s.total)
	require.Equal(t, 1, s.other, "main.somethingElse")
	got := map[string]int{}
	for i, r := range splitRules {
		got[r.group+"/"+r.part] += s.byRule[i]
	}
	want := map[string]int{
		"any backend/kernel TCP":                      1,
		"replaceable/system call entry/exit":          1,
		"replaceable/epoll wait/ctl, runtime.netpoll": 1,
		"runtime/thread sleep/wake":                   1,
		"runtime/sysmon":                              1,
		"any backend/net/http and the handler":        1,
		"any backend/Go allocation and GC":            1,
		"any backend/kernel files, fcntl, faults":     1,
		"replaceable/gokernel's fd runtime":           1,
	}
	for k, n := range got {
		if n == 0 {
			delete(got, k)
		}
	}
	require.Equal(t, want, got)
	out := s.String()
	require.Contains(t, out, "10 samples")
	require.Contains(t, out, " 40.0%  any backend: ")
	require.Contains(t, out, " 10.0%  other")
}

func TestPerfSplitEmpty(t *testing.T) {
	_, err := splitSamples(strings.NewReader("no frames here\n\n"))
	require.ErrorContains(t, err, "no samples")
}
