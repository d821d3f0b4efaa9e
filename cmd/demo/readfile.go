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
		Name:    "readfile",
		Args:    "path",
		Summary: "print a file with raw open, read and write system calls on the selected kernel",
		Help: `readfile is cat made of nothing but sys.Syscall: open(2) the path, then
read(2) and write(2) to fd 1 until the end. With GOKERNEL=lkl and a
GOKERNEL_CONFIG that mounts a disk image, it reads a file inside the image.`,
		Setup: func(*flag.FlagSet) func([]string) error { return readfile },
	})
}

func readfile(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("%w: readfile takes one path", errUsage)
	}
	path, err := unix.BytePtrFromString(args[0])
	if err != nil {
		return fmt.Errorf("%s: %w", args[0], err)
	}
	fd, _, errno := sys.Syscall(unix.SYS_OPEN, uintptr(unsafe.Pointer(path)), unix.O_RDONLY|unix.O_CLOEXEC, 0, 0, 0, 0)
	if errno != 0 {
		return fmt.Errorf("open %s: %w", args[0], errno)
	}
	defer sys.Syscall(unix.SYS_CLOSE, fd, 0, 0, 0, 0, 0)
	buf := make([]byte, 64<<10)
	for {
		n, _, errno := sys.Syscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0, 0, 0)
		if errno != 0 {
			return fmt.Errorf("read %s: %w", args[0], errno)
		}
		if n == 0 {
			return nil
		}
		for off := uintptr(0); off < n; {
			w, _, errno := sys.Syscall(unix.SYS_WRITE, 1, uintptr(unsafe.Pointer(&buf[off])), n-off, 0, 0, 0)
			if errno != 0 {
				return fmt.Errorf("write: %w", errno)
			}
			off += w
		}
	}
}
