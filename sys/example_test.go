package sys_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/sys"
)

// Writing to a file with one system call on the default kernel. With
// GOKERNEL=lkl (and -tags lkl) the same code runs on LKL.
func ExampleSyscall() {
	msg := []byte("hello, world\n")
	_, _, errno := sys.Syscall(unix.SYS_WRITE, os.Stdout.Fd(), uintptr(unsafe.Pointer(&msg[0])), uintptr(len(msg)), 0, 0, 0)
	if errno != 0 {
		fmt.Println("write:", errno)
	}
	// Output: hello, world
}

// Errors are syscall.Errno values that match the io/fs sentinels.
func ExampleSyscall_errors() {
	path, _ := unix.BytePtrFromString("/no/such/file")
	cwd := unix.AT_FDCWD
	_, _, errno := sys.Syscall(unix.SYS_OPENAT, uintptr(cwd), uintptr(unsafe.Pointer(path)), unix.O_RDONLY, 0, 0, 0)
	var err error = errno
	fmt.Println(errno == unix.ENOENT, errors.Is(err, fs.ErrNotExist))
	// Output: true true
}

// Kernels are values: calls go to the kernel given to SyscallOn.
func ExampleSyscallOn() {
	k, err := sys.Open("host", "")
	if err != nil {
		fmt.Println(err)
		return
	}
	pid, _, _ := sys.SyscallOn(k, unix.SYS_GETPID, 0, 0, 0, 0, 0, 0)
	fmt.Println(k.Name(), int(pid) == os.Getpid())
	// Output: host true
}

// A Tracer sees every call, with its name, arguments and result.
func ExampleNewTracer() {
	tr := sys.NewTracer(sys.Host(), func(c sys.Call) {
		fmt.Printf("%s -> errno %d (%v)\n", c.Name(), c.Err, c.Err)
	})
	sys.SyscallOn(tr, unix.SYS_CLOSE, 1<<20, 0, 0, 0, 0, 0)
	// Output: close -> errno 9 (bad file descriptor)
}

// An Injector makes chosen calls fail, here the second getpid.
func ExampleNewInjector() {
	k, err := sys.NewInjector(sys.Host(), 1, sys.Fault{Trap: unix.SYS_GETPID, Nth: 2, Errno: unix.EINTR})
	if err != nil {
		fmt.Println(err)
		return
	}
	for range 3 {
		_, _, errno := sys.SyscallOn(k, unix.SYS_GETPID, 0, 0, 0, 0, 0, 0)
		fmt.Println(errno == 0, errno)
	}
	// Output:
	// true errno 0
	// false interrupted system call
	// true errno 0
}
