package kerneltest

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/sys"
)

// TempDir returns a new, empty directory on kernel k for one test: t.TempDir
// on the host; on another kernel a fresh directory under /tmp in that
// kernel's own file system, made with mkdir(2) through k (its root file
// system is discarded when the kernel halts).
func TempDir(t testing.TB, k sys.Kernel) string {
	t.Helper()
	if sys.IsHost(k) {
		return t.TempDir()
	}
	mkdir := func(dir string) sys.Errno {
		p, err := unix.BytePtrFromString(dir)
		if err != nil {
			t.Fatal(err)
		}
		_, _, e := sys.SyscallOn(k, unix.SYS_MKDIR, uintptr(unsafe.Pointer(p)), 0o755, 0, 0, 0, 0)
		return e
	}
	if e := mkdir("/tmp"); e != 0 && e != unix.EEXIST {
		t.Fatalf("mkdir /tmp on %s: %v", k.Name(), e)
	}
	dir := fmt.Sprintf("/tmp/kerneltest-%016x", rand.Uint64())
	if e := mkdir(dir); e != 0 {
		t.Fatalf("mkdir %s on %s: %v", dir, k.Name(), e)
	}
	return dir
}
