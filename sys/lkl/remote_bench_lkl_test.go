//go:build lkl

package lkl_test

import (
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/sys"
)

// BenchmarkPreadRemote: a 4 KiB pread from a file in LKL's page cache into
// this process's buffer (impl=lkl) and, through Kernel.ForProcess, into
// another process's (impl=remote: LKL writes the page with
// process_vm_writev, LKL fix 16).
func BenchmarkPreadRemote(b *testing.B) {
	h, p, fd := holderFile(b, "bench", 4096)
	buf := make([]byte, 4096)
	b.Run("impl=lkl", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(4096)
		for b.Loop() {
			if r, _, e := sys.SyscallOn(kern, unix.SYS_PREAD64, fd, uintptr(unsafe.Pointer(&buf[0])), 4096, 0, 0, 0); e != 0 || r != 4096 {
				b.Fatalf("pread = %d, %v", r, e)
			}
		}
	})
	b.Run("impl=remote", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(4096)
		for b.Loop() {
			if r, _, e := p.Syscall(unix.SYS_PREAD64, fd, h.at(off.out), 4096, 0, 0, 0); e != 0 || r != 4096 {
				b.Fatalf("pread = %d, %v", r, e)
			}
		}
	})
}

// BenchmarkPreadRemotePaired alternates blocks of the two and reports
// remote/lkl.
func BenchmarkPreadRemotePaired(b *testing.B) {
	h, p, fd := holderFile(b, "bench", 4096)
	buf := make([]byte, 4096)
	kerneltest.Paired(b, 64, "remote/lkl",
		func() { sys.SyscallOn(kern, unix.SYS_PREAD64, fd, uintptr(unsafe.Pointer(&buf[0])), 4096, 0, 0, 0) },
		func() { p.Syscall(unix.SYS_PREAD64, fd, h.at(off.out), 4096, 0, 0, 0) })
}
