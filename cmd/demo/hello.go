package main

import (
	"flag"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/internal/cli"
	"github.com/gokernel/gokernel/sys"
)

func init() {
	register(&cli.Command{
		Name:    "hello",
		Summary: `write "hello, world" to fd 1 with one raw write system call`,
		Help: `hello is jskernel's libsys example: no library, just
sys.Syscall(SYS_WRITE, 1, buf, len) on the selected kernel. On LKL, the
kernel's own fd 1 is wired to the process's stdout.`,
		Setup: func(*flag.FlagSet) func([]string) error { return hello },
	})
}

func hello(args []string) error {
	if len(args) != 0 {
		return fmt.Errorf("%w: hello takes no arguments", errUsage)
	}
	msg := []byte("hello, world\n")
	n, _, errno := sys.Syscall(unix.SYS_WRITE, 1, uintptr(unsafe.Pointer(&msg[0])), uintptr(len(msg)), 0, 0, 0)
	if errno != 0 {
		return fmt.Errorf("write on %s kernel: %w", sys.Default().Name(), errno)
	}
	if n != uintptr(len(msg)) {
		return fmt.Errorf("write on %s kernel: wrote %d of %d bytes", sys.Default().Name(), n, len(msg))
	}
	return nil
}
