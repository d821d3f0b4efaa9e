// Command hello makes its system calls through one function, sys.Syscall,
// answered by the kernel GOKERNEL selects: the host kernel by default, or
// LKL (GOKERNEL=lkl, in a binary built with -tags lkl), where it is pid 1.
package main

import (
	"fmt"
	"os"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/sys"
)

func main() {
	pid, _, errno := sys.Syscall(unix.SYS_GETPID, 0, 0, 0, 0, 0, 0)
	if errno != 0 {
		fmt.Fprintln(os.Stderr, "getpid:", errno)
		os.Exit(1)
	}
	msg := []byte("hello from pid " + strconv.Itoa(int(pid)) + "\n")
	// Convert the pointer inside the call expression: that keeps msg alive
	// and in place for the call.
	_, _, errno = sys.Syscall(unix.SYS_WRITE, 1, uintptr(unsafe.Pointer(&msg[0])), uintptr(len(msg)), 0, 0, 0)
	if errno != 0 {
		fmt.Fprintln(os.Stderr, "write:", errno)
		os.Exit(1)
	}
	if err := sys.Shutdown(); err != nil {
		fmt.Fprintln(os.Stderr, "shutdown:", err)
		os.Exit(1)
	}
}
