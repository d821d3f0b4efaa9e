//go:build lkl

package lkl_test

import (
	"fmt"
	"os"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/sys"
)

// remoteBench opens a 4 KiB file in LKL through ForProcess for a holder
// child and returns the holder, its Process and the fd.
func remoteBench(b *testing.B) (*holder, sys.Kernel, uintptr) {
	path := fmt.Sprintf("/remote_bench_%d", os.Getpid())
	h := startHolder(b, path)
	p := forProcess(b, h.pid)
	fd := rcall(b, p, "openat", unix.SYS_OPENAT, atFDCWD, h.at(off.path), unix.O_CREAT|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	b.Cleanup(func() {
		call(unix.SYS_CLOSE, fd)
		call(unix.SYS_UNLINK, uintptr(unsafe.Pointer(cstr(b, path))))
	})
	rcall(b, p, "write", unix.SYS_WRITE, fd, h.at(off.data), 4096)
	return h, p, fd
}

// BenchmarkPreadRemote: a 4 KiB pread from a file in LKL's page cache into
// this process's buffer (impl=lkl) and, through Kernel.ForProcess, into
// another process's (impl=remote: LKL writes the page with
// process_vm_writev, LKL fix 16).
func BenchmarkPreadRemote(b *testing.B) {
	h, p, fd := remoteBench(b)
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
	h, p, fd := remoteBench(b)
	buf := make([]byte, 4096)
	kerneltest.Paired(b, 64, "remote/lkl",
		func() { sys.SyscallOn(kern, unix.SYS_PREAD64, fd, uintptr(unsafe.Pointer(&buf[0])), 4096, 0, 0, 0) },
		func() { p.Syscall(unix.SYS_PREAD64, fd, h.at(off.out), 4096, 0, 0, 0) })
}
