//go:build lkl

package isolated_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/internal/imagetest"
	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/sys/isolated"
	"github.com/gokernel/gokernel/sys/lkl"
)

// inProcess is this test process's one in-process LKL, booted by the
// first benchmark that needs it.
var inProcess = sync.OnceValues(func() (*lkl.Kernel, error) { return lkl.Boot(nil) })

// bothKernels returns the in-process kernel and a fresh isolated one,
// halted when b ends.
func bothKernels(b *testing.B) (*lkl.Kernel, *isolated.Kernel) {
	ip, err := inProcess()
	if err != nil {
		b.Fatal(err)
	}
	iso, err := isolated.Start(nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { iso.Halt() })
	return ip, iso
}

// BenchmarkGetpid times getpid round trips on the host, on in-process LKL
// and on isolated LKL, side by side, with p50 and p99 of the single calls.
func BenchmarkGetpid(b *testing.B) {
	ip, iso := bothKernels(b)
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

// bootChildEnv makes this test binary the in-process side of
// BenchmarkBoot: boot LKL with the image it names, answer one getpid,
// say "ready", halt.
const bootChildEnv = "GK_ISOLATED_BENCH_BOOT"

func TestMain(m *testing.M) {
	if img := os.Getenv(bootChildEnv); img != "" {
		k, err := lkl.Boot(bootConfig(img))
		if err == nil {
			_, _, e := sys.SyscallOn(k, unix.SYS_GETPID, 0, 0, 0, 0, 0, 0)
			fmt.Println("ready", e)
			err = k.Halt()
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// bootConfig mounts img read-only, as demo cp-out would.
func bootConfig(img string) *lkl.Config {
	return &lkl.Config{Disks: []lkl.Disk{{Path: img, ReadOnly: true, FSType: "ext4", MountPoint: "/mnt/d"}}}
}

// BenchmarkBoot times a fresh process's boot to its first answered call
// with an ext4 image mounted, both ways, alternated in each iteration so
// that both see the same moments of a loaded machine: "inprocess" starts
// this binary, which boots LKL itself and answers getpid; "isolated"
// starts the isolated kernel (the same binary as its child) and gets
// getpid answered through it. Both include the exec and the Go runtime's
// start; neither the halt. It reports the medians and their ratio.
func BenchmarkBoot(b *testing.B) {
	img := imagetest.Build(b, "ext4", imagetest.Tree{"f": "x"})
	var inproc, iso []time.Duration
	for b.Loop() {
		t0 := time.Now()
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), bootChildEnv+"="+img)
		out, err := cmd.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "ready ") {
			b.Fatalf("child said %q, %v", line, err)
		}
		inproc = append(inproc, time.Since(t0))
		if err := cmd.Wait(); err != nil {
			b.Fatal(err)
		}

		t0 = time.Now()
		k, err := isolated.Start(bootConfig(img))
		if err != nil {
			b.Fatal(err)
		}
		if _, _, e := sys.SyscallOn(k, unix.SYS_GETPID, 0, 0, 0, 0, 0, 0); e != 0 {
			b.Fatal(e)
		}
		iso = append(iso, time.Since(t0))
		if err := k.Halt(); err != nil {
			b.Fatal(err)
		}
	}
	median := func(d []time.Duration) time.Duration { slices.Sort(d); return d[len(d)/2] }
	mi, ms := median(inproc), median(iso)
	b.ReportMetric(float64(mi.Microseconds())/1000, "inprocess-ms")
	b.ReportMetric(float64(ms.Microseconds())/1000, "isolated-ms")
	b.ReportMetric(float64(ms)/float64(mi), "isolated/inprocess")
}

// fileCallsRuns numbers BenchmarkFileCalls's runs, for their directories.
var fileCallsRuns int

// BenchmarkFileCalls times the four calls demo cp-out's walker makes per
// file of a tree (ufs.Copier.file: openat, fstat, pread, close), on
// in-process and on isolated LKL, alternated file by file so that both
// see the same moments of a loaded machine. Each call's median and the
// ratio of the per-file sums (in-process / isolated: the isolated kernel's
// speed as a fraction of in-process) are reported. The files (1-8 KiB,
// as in the tree image of cmd/gkbench/cpbench.sh) are made in each
// kernel's root file system, as their page caches would hold an image's.
func BenchmarkFileCalls(b *testing.B) {
	const files = 64
	ip, iso := bothKernels(b)
	type side struct {
		k   sys.Kernel
		dir uintptr
		lat [4][]time.Duration
	}
	sides := [2]*side{{k: ip}, {k: iso}}
	// call makes a call that must succeed (libgo's layer is above this
	// package's: its wrappers are not for these tests).
	call := func(k sys.Kernel, trap uintptr, a ...uintptr) uintptr {
		var w [6]uintptr
		copy(w[:], a)
		r, _, e := sys.SyscallOn(k, trap, w[0], w[1], w[2], w[3], w[4], w[5])
		if e != 0 {
			b.Fatalf("%s: %v", sys.SyscallName(trap), e)
		}
		return r
	}
	// cstr is a C string for a call; its pointer is kept alive by
	// runtime.KeepAlive after the calls that use it (call's arguments
	// are only words).
	cstr := func(s string) *byte { p, _ := unix.BytePtrFromString(s); return p }
	fileCallsRuns++ // -count runs it again on the same in-process kernel
	data := make([]byte, 8192)
	for _, s := range sides {
		dir := fmt.Sprintf("/filecalls%d", fileCallsRuns)
		dp := cstr(dir)
		call(s.k, unix.SYS_MKDIR, uintptr(unsafe.Pointer(dp)), 0o755)
		s.dir = call(s.k, unix.SYS_OPEN, uintptr(unsafe.Pointer(dp)), unix.O_RDONLY|unix.O_DIRECTORY)
		runtime.KeepAlive(dp)
		defer sys.SyscallOn(s.k, unix.SYS_CLOSE, s.dir, 0, 0, 0, 0, 0)
		for i := range files {
			fp := cstr(fmt.Sprintf("f%02d", i))
			fd := call(s.k, unix.SYS_OPENAT, s.dir, uintptr(unsafe.Pointer(fp)), unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, 0o644)
			runtime.KeepAlive(fp)
			call(s.k, unix.SYS_WRITE, fd, uintptr(unsafe.Pointer(&data[0])), uintptr(1024*(1+i%8)))
			call(s.k, unix.SYS_CLOSE, fd)
		}
	}
	names := []string{"openat", "fstat", "pread", "close"}
	buf := make([]byte, 8192)
	var st unix.Stat_t
	var batched []time.Duration
	runtime.LockOSThread() // as demo cp-out's walker
	defer runtime.UnlockOSThread()
	i := 0
	for b.Loop() {
		name := fmt.Sprintf("f%02d", i%files)
		i++
		cname := cstr(name)
		for _, s := range sides {
			t0 := time.Now()
			fd := call(s.k, unix.SYS_OPENAT, s.dir, uintptr(unsafe.Pointer(cname)), unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC)
			t1 := time.Now()
			call(s.k, unix.SYS_FSTAT, fd, uintptr(unsafe.Pointer(&st)))
			t2 := time.Now()
			if n := call(s.k, unix.SYS_PREAD64, fd, uintptr(unsafe.Pointer(&buf[0])), uintptr(st.Size), 0); int64(n) != st.Size {
				b.Fatalf("pread: %d; want %d", n, st.Size)
			}
			t3 := time.Now()
			call(s.k, unix.SYS_CLOSE, fd)
			t4 := time.Now()
			for j, d := range []time.Duration{t1.Sub(t0), t2.Sub(t1), t3.Sub(t2), t4.Sub(t3)} {
				s.lat[j] = append(s.lat[j], d)
			}
		}
		// The same four calls as one isolated.Kernel.Batch.
		calls := []isolated.Call{
			{Trap: unix.SYS_OPENAT, Args: [6]uintptr{sides[1].dir, uintptr(unsafe.Pointer(cname)), unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_NONBLOCK | unix.O_CLOEXEC}},
			{Trap: unix.SYS_FSTAT, Args: [6]uintptr{1: uintptr(unsafe.Pointer(&st))}, From: [6]uint8{1}},
			{Trap: unix.SYS_PREAD64, Args: [6]uintptr{1: uintptr(unsafe.Pointer(&buf[0])), 2: uintptr(len(buf))}, From: [6]uint8{1}},
			{Trap: unix.SYS_CLOSE, From: [6]uint8{1}, Always: true},
		}
		t0 := time.Now()
		if err := iso.Batch(calls); err != nil {
			b.Fatal(err)
		}
		batched = append(batched, time.Since(t0))
		runtime.KeepAlive(cname)
		for j, c := range calls {
			if c.Errno != 0 || j == 2 && int64(c.R1) != st.Size {
				b.Fatalf("batch: %s: %d, %v (size %d)", names[j], c.R1, c.Errno, st.Size)
			}
		}
	}
	median := func(d []time.Duration) time.Duration { slices.Sort(d); return d[len(d)/2] }
	var sum [2]time.Duration
	for j, n := range names {
		for k, s := range sides {
			m := median(s.lat[j])
			sum[k] += m
			b.ReportMetric(float64(m.Nanoseconds()), n+"-"+[]string{"inprocess", "isolated"}[k]+"-ns")
		}
	}
	b.ReportMetric(float64(sum[0])/float64(sum[1]), "inprocess/isolated")
	mb := median(batched)
	b.ReportMetric(float64(mb.Nanoseconds()), "batched-isolated-ns")
	b.ReportMetric(float64(sum[0])/float64(mb), "inprocess/batched")
}
