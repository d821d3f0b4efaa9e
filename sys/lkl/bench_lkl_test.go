//go:build lkl

package lkl_test

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/internal/imagetest"
	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/sys/lkl"
)

// BenchmarkGetpid compares getpid through sys.SyscallOn on LKL with a bare
// cgo call of lkl_syscall (impl=raw-cgo, the reference).
func BenchmarkGetpid(b *testing.B) {
	b.Run("impl=raw-cgo", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			lkl.RawGetpid()
		}
	})
	b.Run("impl=sys", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sys.SyscallOn(kern, unix.SYS_GETPID, 0, 0, 0, 0, 0, 0)
		}
	})
}

// BenchmarkGetpidPaired alternates blocks of the two, as sys's benchmark
// of the same name does, and reports sys/raw.
func BenchmarkGetpidPaired(b *testing.B) {
	kerneltest.Paired(b, 256, "sys/raw",
		func() { lkl.RawGetpid() },
		func() { sys.SyscallOn(kern, unix.SYS_GETPID, 0, 0, 0, 0, 0, 0) })
}

// BenchmarkBoot starts b.N processes that each boot LKL (every file system
// built in), make one getpid, and halt; it reports the median and spread of
// the boot and halt times they measured.
func BenchmarkBoot(b *testing.B) {
	var boots, halts []float64
	for b.Loop() {
		out := child(b, "boot-time")
		var bootNS, haltNS int64
		if _, err := fmt.Sscanf(strings.TrimSpace(out), "boot_ns=%d halt_ns=%d", &bootNS, &haltNS); err != nil {
			b.Fatalf("child said %q: %v", out, err)
		}
		boots = append(boots, float64(bootNS)/1e6)
		halts = append(halts, float64(haltNS)/1e6)
	}
	reportSpread(b, "boot-ms", boots)
	reportSpread(b, "halt-ms", halts)
}

// reportSpread reports the median and the 10th and 90th percentiles.
func reportSpread(b *testing.B, unit string, v []float64) {
	slices.Sort(v)
	at := func(q float64) float64 { return v[int(q*float64(len(v)-1)+0.5)] }
	b.ReportMetric(at(0.5), unit+"-p50")
	b.ReportMetric(at(0.1), unit+"-p10")
	b.ReportMetric(at(0.9), unit+"-p90")
}

var benchImage struct {
	once         sync.Once
	small, large string // ext4 images: a 4 KiB file; a 256 MiB file
	hostDir      string // the small image's tree on the host
}

// benchImages makes the benchmark images once per process.
func benchImages(b *testing.B, large bool) {
	benchImage.once.Do(func() {
		dir, err := os.MkdirTemp("", "gokernel-bench")
		if err != nil {
			b.Fatal(err)
		}
		benchImage.hostDir = filepath.Join(dir, "small")
		if err := os.MkdirAll(benchImage.hostDir, 0o755); err != nil {
			b.Fatal(err)
		}
		page := make([]byte, 4096)
		rand.Read(page)
		if err := os.WriteFile(filepath.Join(benchImage.hostDir, "file"), page, 0o644); err != nil {
			b.Fatal(err)
		}
		benchImage.small = filepath.Join(dir, "small.img")
		imagetest.MakeFS(b, "ext4", benchImage.hostDir, benchImage.small)
	})
	if large && benchImage.large == "" {
		dir := filepath.Dir(benchImage.small)
		src := filepath.Join(dir, "large")
		if err := os.MkdirAll(src, 0o755); err != nil {
			b.Fatal(err)
		}
		data := make([]byte, 256<<20)
		rand.Read(data)
		if err := os.WriteFile(filepath.Join(src, "file"), data, 0o644); err != nil {
			b.Fatal(err)
		}
		img := filepath.Join(dir, "large.img")
		f, err := os.Create(img)
		if err != nil {
			b.Fatal(err)
		}
		f.Truncate(400 << 20)
		f.Close()
		imagetest.Run(b, "mke2fs", "-q", "-F", "-t", "ext4", "-d", src, img)
		os.RemoveAll(src)
		benchImage.large = img
	}
}

// BenchmarkProcess times whole processes that read a 4 KiB file and exit:
// on the host kernel from a directory (impl=host, the reference), and on
// LKL from a read-only ext4 image it boots, mounts and halts (impl=lkl).
func BenchmarkProcess(b *testing.B) {
	benchImages(b, false)
	for _, kernel := range []string{"host", "lkl"} {
		b.Run("impl="+kernel, func(b *testing.B) {
			var ms []float64
			for b.Loop() {
				start := time.Now()
				if kernel == "host" {
					child(b, "read-host", "GK_HOSTFILE="+filepath.Join(benchImage.hostDir, "file"))
				} else {
					child(b, "read-image", "GK_IMAGE="+benchImage.small, "GK_FILE=file")
				}
				ms = append(ms, float64(time.Since(start).Microseconds())/1e3)
			}
			reportSpread(b, "wall-ms", ms)
		})
	}
}

// BenchmarkRead256MiB reads a 256 MiB file from an ext4 image through
// read(2) with 1 MiB buffers: cold (LKL's page cache and the host's cache of
// the image dropped before each read) and warm (read again).
func BenchmarkRead256MiB(b *testing.B) {
	benchImages(b, true)
	const mp = "/mnt/bench-large"
	if _, err := kern.AddDisk(lkl.Disk{Path: benchImage.large, ReadOnly: true, FSType: "ext4", MountPoint: mp}); err != nil {
		b.Fatal(err)
	}
	defer kern.Unmount(mp)
	buf := make([]byte, 1<<20)
	readAllOnce := func() int {
		fd := mustCall(b, "open", unix.SYS_OPEN, uintptr(unsafe.Pointer(cstr(b, mp+"/file"))), unix.O_RDONLY|unix.O_CLOEXEC)
		defer call(unix.SYS_CLOSE, fd)
		total := 0
		for {
			// sys.SyscallOn directly: the test helpers' variadic
			// arguments would allocate and blur allocs/op.
			n, _, e := sys.SyscallOn(kern, unix.SYS_READ, fd, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0, 0, 0)
			if e != 0 {
				b.Fatalf("read: %v", e)
			}
			if n == 0 {
				return total
			}
			total += int(n)
		}
	}
	dropCaches := func() {
		writeProc(b, "/proc/sys/vm/drop_caches", "3")
		f, err := os.Open(benchImage.large)
		if err != nil {
			b.Fatal(err)
		}
		unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED) // the host's cache of the image
		f.Close()
	}
	for _, mode := range []string{"cold", "warm"} {
		b.Run("cache="+mode, func(b *testing.B) {
			b.SetBytes(256 << 20)
			if mode == "warm" {
				readAllOnce()
			}
			for b.Loop() {
				if mode == "cold" {
					b.StopTimer()
					dropCaches()
					b.StartTimer()
				}
				if n := readAllOnce(); n != 256<<20 {
					b.Fatalf("read %d bytes", n)
				}
			}
		})
	}
}

// writeProc writes a value to a /proc file inside LKL, mounting proc first.
func writeProc(b *testing.B, file, value string) {
	p := cstr(b, "/proc")
	call(unix.SYS_MKDIR, uintptr(unsafe.Pointer(p)), 0o555)
	call(unix.SYS_MOUNT, uintptr(unsafe.Pointer(cstr(b, "proc"))), uintptr(unsafe.Pointer(p)), uintptr(unsafe.Pointer(cstr(b, "proc"))), 0, 0)
	fd := mustCall(b, "open "+file, unix.SYS_OPEN, uintptr(unsafe.Pointer(cstr(b, file))), unix.O_WRONLY)
	defer call(unix.SYS_CLOSE, fd)
	v := []byte(value)
	mustCall(b, "write "+file, unix.SYS_WRITE, fd, uintptr(unsafe.Pointer(&v[0])), uintptr(len(v)))
}
