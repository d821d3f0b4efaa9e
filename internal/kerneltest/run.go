package kerneltest

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gokernel/gokernel/sys"
)

// A kernelFactory gives the test process's kernel of one kind, started on
// first use.
type kernelFactory struct {
	name  string
	get   func() (sys.Kernel, error)
	close func() error // nil if nothing to stop
}

// kernels lists every kernel this test binary can run: host always, LKL
// when built with -tags lkl (lkl_lkl.go adds it).
var kernels = []kernelFactory{{name: "host", get: func() (sys.Kernel, error) { return sys.Host(), nil }}}

// Kernels returns the names of the kernels Run runs tests on.
func Kernels() []string {
	names := make([]string, len(kernels))
	for i, f := range kernels {
		names[i] = f.name
	}
	return names
}

// Run runs f once per kernel this test binary can run, as subtests named
// after the kernel ("host", "lkl"), with the same expectations: a behaviour
// test is written once. Where a kernel truly differs, f branches on
// k.Name() and says why (see Differs); nothing is skipped silently.
func Run(t *testing.T, f func(t *testing.T, k sys.Kernel)) {
	t.Helper()
	for _, kf := range kernels {
		t.Run(kf.name, func(t *testing.T) {
			k, err := kf.get()
			if err != nil {
				t.Fatalf("starting the %s kernel: %v", kf.name, err)
			}
			f(t, k)
		})
	}
}

// Differs reports whether k is the named kernel, and logs why its
// expectation differs there, so the difference is stated in the test and
// visible in -v output.
func Differs(t testing.TB, k sys.Kernel, name, why string) bool {
	t.Helper()
	if k.Name() != name {
		return false
	}
	t.Logf("on %s: %s", name, why)
	return true
}

// Main is TestMain for packages that use Run: it runs the tests, then stops
// the kernels they started (LKL halts, flushing its disks) and fails the
// binary if a goroutine outlived the tests.
func Main(m *testing.M) {
	code := m.Run()
	for _, kf := range kernels {
		if kf.close == nil {
			continue
		}
		if err := kf.close(); err != nil {
			fmt.Fprintf(os.Stderr, "kerneltest: stopping %s: %v\n", kf.name, err)
			code = 1
		}
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "kerneltest:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// Lookup returns the named kernel if this test binary can run it, started
// on first use (for benchmarks that put kernels side by side).
func Lookup(tb testing.TB, name string) (sys.Kernel, bool) {
	tb.Helper()
	for _, kf := range kernels {
		if kf.name == name {
			k, err := kf.get()
			if err != nil {
				tb.Fatalf("starting the %s kernel: %v", name, err)
			}
			return k, true
		}
	}
	return nil, false
}

// Paired measures two versions of one operation side by side: it runs
// blocks of block calls of ref, then of sub, in turn, and reports the ratio
// of their total times under unit (e.g. "sys/unix"), plus each side's time
// per call. On a noisy machine both sides then see the same moments.
func Paired(b *testing.B, block int, unit string, ref, sub func()) {
	var tRef, tSub time.Duration
	b.ReportAllocs()
	for b.Loop() {
		t0 := time.Now()
		for range block {
			ref()
		}
		t1 := time.Now()
		for range block {
			sub()
		}
		tRef += t1.Sub(t0)
		tSub += time.Since(t1)
	}
	subName, refName, _ := strings.Cut(unit, "/")
	b.ReportMetric(float64(tSub)/float64(tRef), unit)
	b.ReportMetric(float64(tSub.Nanoseconds())/float64(b.N*block), "ns/"+subName+"-call")
	b.ReportMetric(float64(tRef.Nanoseconds())/float64(b.N*block), "ns/"+refName+"-call")
}
