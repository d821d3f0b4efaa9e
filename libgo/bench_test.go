package libgo_test

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/libgo"
	"github.com/gokernel/gokernel/sys"
)

const size4K = 4096

// BenchmarkPipe4K writes 4 KiB into a pipe and reads it back, per op:
// x/sys/unix (impl=unix, the reference), *os.File (impl=os), libgo on the
// host (impl=libgo) and, in an lkl build, libgo on LKL (impl=libgo-lkl).
func BenchmarkPipe4K(b *testing.B) {
	buf := make([]byte, size4K)
	b.Run("impl=unix", func(b *testing.B) {
		p := hostPipe(b)
		run4K(b, func() (int, error) { return unix.Write(p[1], buf) }, func() (int, error) { return unix.Read(p[0], buf) })
	})
	b.Run("impl=os", func(b *testing.B) {
		r, w, err := os.Pipe()
		if err != nil {
			b.Fatal(err)
		}
		defer r.Close()
		defer w.Close()
		run4K(b, func() (int, error) { return w.Write(buf) }, func() (int, error) { return r.Read(buf) })
	})
	for _, kname := range kerneltest.Kernels() {
		name := "impl=libgo"
		if kname != "host" {
			name += "-" + kname
		}
		b.Run(name, func(b *testing.B) {
			k, _ := kerneltest.Lookup(b, kname)
			lc := libgo.New(k)
			p, err := lc.Pipe2(0)
			if err != nil {
				b.Fatal(err)
			}
			defer lc.Close(p[0])
			defer lc.Close(p[1])
			run4K(b, func() (int, error) { return lc.Write(p[1], buf) }, func() (int, error) { return lc.Read(p[0], buf) })
		})
	}
}

// BenchmarkFile4K writes 4 KiB at offset 0 of a file and reads it back, per
// op, with pwrite/pread (WriteAt/ReadAt for *os.File): same variants as
// BenchmarkPipe4K. The host file is in the test's temporary directory; the
// LKL one in LKL's own file system.
func BenchmarkFile4K(b *testing.B) {
	buf := make([]byte, size4K)
	b.Run("impl=unix", func(b *testing.B) {
		fd, err := unix.Open(filepath.Join(b.TempDir(), "f"), unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o644)
		if err != nil {
			b.Fatal(err)
		}
		defer unix.Close(fd)
		run4K(b, func() (int, error) { return unix.Pwrite(fd, buf, 0) }, func() (int, error) { return unix.Pread(fd, buf, 0) })
	})
	b.Run("impl=os", func(b *testing.B) {
		f, err := os.Create(filepath.Join(b.TempDir(), "f"))
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		run4K(b, func() (int, error) { return f.WriteAt(buf, 0) }, func() (int, error) { return f.ReadAt(buf, 0) })
	})
	for _, kname := range kerneltest.Kernels() {
		name := "impl=libgo"
		if kname != "host" {
			name += "-" + kname
		}
		b.Run(name, func(b *testing.B) {
			k, _ := kerneltest.Lookup(b, kname)
			lc := libgo.New(k)
			fd, err := lc.Open(filepath.Join(kerneltest.TempDir(b, k), "f"), unix.O_RDWR|unix.O_CREAT, 0o644)
			if err != nil {
				b.Fatal(err)
			}
			defer lc.Close(fd)
			run4K(b, func() (int, error) { return lc.Pwrite(fd, buf, 0) }, func() (int, error) { return lc.Pread(fd, buf, 0) })
		})
	}
}

// hostPipe makes a pipe with x/sys/unix, closed when the benchmark ends.
func hostPipe(b *testing.B) [2]int {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { unix.Close(p[0]); unix.Close(p[1]) })
	return p
}

func run4K(b *testing.B, write, read func() (int, error)) {
	b.ReportAllocs()
	b.SetBytes(2 * size4K)
	for b.Loop() {
		if n, err := write(); err != nil || n != size4K {
			b.Fatalf("write = %d, %v", n, err)
		}
		if n, err := read(); err != nil || n != size4K {
			b.Fatalf("read = %d, %v", n, err)
		}
	}
}

// BenchmarkPaired4K alternates blocks of x/sys/unix and libgo round trips
// on the host, on a pipe (write+read) and on a file (pwrite+pread at 0), and
// reports libgo/unix time, so both sides see the same moment of a noisy
// machine. Below 1/0.97 ≈ 1.031 means libgo keeps at least 97% of unix's
// throughput.
func BenchmarkPaired4K(b *testing.B) {
	lc := libgo.New(sys.Host())
	buf := make([]byte, size4K)
	b.Run("on=pipe", func(b *testing.B) {
		p := hostPipe(b)
		kerneltest.Paired(b, 64, "libgo/unix",
			func() { unix.Write(p[1], buf); unix.Read(p[0], buf) },
			func() { lc.Write(p[1], buf); lc.Read(p[0], buf) })
	})
	b.Run("on=file", func(b *testing.B) {
		fd, err := unix.Open(filepath.Join(b.TempDir(), "f"), unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o644)
		if err != nil {
			b.Fatal(err)
		}
		defer unix.Close(fd)
		kerneltest.Paired(b, 64, "libgo/unix",
			func() { unix.Pwrite(fd, buf, 0); unix.Pread(fd, buf, 0) },
			func() { lc.Pwrite(fd, buf, 0); lc.Pread(fd, buf, 0) })
	})
}
