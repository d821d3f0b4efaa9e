// Package sys is the one door between gokernel and a kernel: every system
// call made by the packages above it goes through [Syscall] (the process
// default kernel) or [SyscallOn] (an explicit one).
//
// sys sits at the bottom of the stack. It imports only the standard library,
// golang.org/x/sys/unix for numbers and names, and the kernels below it:
// sys/host (the Linux kernel the process runs on, pure Go) and, in binaries
// built with -tags lkl, sys/lkl (LKL, a Linux kernel linked in as a library).
// libgo, aio, eloop, unet, ufs and cmd/demo are built on it and never call the
// kernel any other way.
//
// The contract at this door is the host architecture's Linux ABI: numbers,
// flags and struct layouts are those of golang.org/x/sys/unix. A kernel whose
// native ABI differs translates at its own boundary. Errors are bare
// [syscall.Errno] values, so errors.Is(err, fs.ErrNotExist) holds for ENOENT.
//
// Which kernel answers [Syscall] is chosen at startup from the environment:
//
//	GOKERNEL          host (default) or lkl
//	GOKERNEL_CONFIG   path of a JSON configuration for the selected kernel
//	GOKERNEL_TRACE    1 to print an strace-like line per call to stderr
//	GOKERNEL_TRACE_FILE  write those lines to this file instead
//
// Kernels are also plain values ([Open], [Host]), so one program can use the
// host kernel and LKL side by side. Two wrappers make every call observable
// and every error path testable: [NewTracer] records calls, [NewInjector]
// makes chosen calls fail.
//
// # Binding rule
//
// Every object of the stack (a libgo.Libc, an aio.Poller or Nonblock, an
// eloop.Loop or Server, a unet.Stack, a ufs.FS) pins the kernel it was
// made on: a nil kernel at construction means [Default] as it is then,
// and the object keeps that kernel even if the default changes later, so
// an fd it holds and the calls made on it always belong to one kernel.
// Only libgo's package-level functions follow the default at each call.
//
// Code above sys asks a kernel what it can do, never what it is called:
// [IsHost] (the optional [HostKernel] interface) says whether the kernel
// is the host's, whose fds are the process's own; wrappers ([Tracer],
// [Injector]) pass the question on to the kernel they wrap.
//
// Every host call made on the stack's behalf, by a kernel's own plumbing
// as well, goes through a host Kernel: sys passes [Host]() to LKL when it
// boots it (lkl.Config.Host, a host.Caller), and sys/lkl's console fds,
// its user network's socketpair and usernet's own calls (closing its fds,
// ping sockets) are made through that Caller only, so a Tracer or
// Injector put there sees them. Outside this rule are the calls made by
// other packages' code on host fds: package net's sockets for the user
// network's NAT and port forwards, gVisor's link reads and writes, and
// the Go runtime's own. The layering test (TestNoDirectSyscallsAboveSys)
// checks that no file of sys/lkl or above calls golang.org/x/sys/unix's
// system calls, under whatever name it is imported.
package sys

//go:generate go run mksysname.go
