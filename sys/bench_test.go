package sys_test

import (
	"io"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/sys"
)

// BenchmarkGetpid compares one getpid through each entry point, in the same
// run. impl=unix is the reference; run "make bench" for the ratios.
func BenchmarkGetpid(b *testing.B) {
	b.Run("impl=unix", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			unix.Syscall(unix.SYS_GETPID, 0, 0, 0)
		}
	})
	b.Run("impl=syscall", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			syscall.Syscall(syscall.SYS_GETPID, 0, 0, 0)
		}
	})
	b.Run("impl=sys", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sys.Syscall(unix.SYS_GETPID, 0, 0, 0, 0, 0, 0)
		}
	})
	host := sys.Host()
	b.Run("impl=sys-on-host", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sys.SyscallOn(host, unix.SYS_GETPID, 0, 0, 0, 0, 0, 0)
		}
	})
	traced := sys.NewTracer(host, sys.WriteTrace(io.Discard))
	b.Run("impl=sys-traced", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sys.SyscallOn(traced, unix.SYS_GETPID, 0, 0, 0, 0, 0, 0)
		}
	})
}

// BenchmarkRead4K reads 4 KiB from /dev/zero, the shape of a hot I/O call
// with a pointer argument (which //go:uintptrescapes moves to the heap).
func BenchmarkRead4K(b *testing.B) {
	fd, err := unix.Open("/dev/zero", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer unix.Close(fd)
	buf := make([]byte, 4096)
	b.Run("impl=unix", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(4096)
		for b.Loop() {
			unix.Read(fd, buf)
		}
	})
	b.Run("impl=sys", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(4096)
		for b.Loop() {
			sys.Syscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0, 0, 0)
		}
	})
}

// BenchmarkGetpidPaired alternates blocks of unix.Syscall and sys.Syscall
// getpid calls and reports their time ratio as sys/unix.
func BenchmarkGetpidPaired(b *testing.B) {
	kerneltest.Paired(b, 256, "sys/unix",
		func() { unix.Syscall(unix.SYS_GETPID, 0, 0, 0) },
		func() { sys.Syscall(unix.SYS_GETPID, 0, 0, 0, 0, 0, 0) })
}
