//go:build lkl

package isolated_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/sys/isolated"
	"github.com/gokernel/gokernel/sys/lkl"
)

// inProcess is this test process's one in-process LKL, booted by the
// first benchmark that needs it.
var inProcess = sync.OnceValues(func() (*lkl.Kernel, error) { return lkl.Boot(nil) })

// BenchmarkGetpid times getpid round trips on the host, on in-process LKL
// and on isolated LKL, side by side, with p50 and p99 of the single calls.
func BenchmarkGetpid(b *testing.B) {
	ip, err := inProcess()
	if err != nil {
		b.Fatal(err)
	}
	iso, err := isolated.Start(nil)
	if err != nil {
		b.Fatal(err)
	}
	defer iso.Halt()
	for _, k := range []struct {
		name string
		k    sys.Kernel
	}{{"host", sys.Host()}, {"inprocess", ip}, {"isolated", iso}} {
		b.Run(k.name, func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			for b.Loop() {
				t0 := time.Now()
				if _, _, e := sys.SyscallOn(k.k, unix.SYS_GETPID, 0, 0, 0, 0, 0, 0); e != 0 {
					b.Fatal(e)
				}
				lat = append(lat, time.Since(t0))
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
			b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
		})
	}
}

// BenchmarkBoot times boot to the first answered call: an isolated
// kernel (a child started, LKL booted there, getpid answered, halted).
// In-process LKL boots once per process: sys/lkl's TestBootTime and the
// boot-time child measure it (see docs/isolation.md for the side by side).
func BenchmarkBoot(b *testing.B) {
	for b.Loop() {
		k, err := isolated.Start(nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, e := sys.SyscallOn(k, unix.SYS_GETPID, 0, 0, 0, 0, 0, 0); e != 0 {
			b.Fatal(e)
		}
		b.StopTimer()
		if err := k.Halt(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}
