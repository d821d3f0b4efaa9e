// Package gokernel is the root of a Go library stack in which a program
// talks to the kernel through one function, and chooses when it starts which
// kernel answers: the Linux kernel it runs on, or LKL, a Linux 4.9 kernel
// linked into the process as a library, with its own file systems, TCP/IP
// stack and fd table. This package holds no code; start reading at
// [github.com/gokernel/gokernel/sys.Syscall].
//
// # The stack
//
// Dependencies point down only (layers_test.go enforces it):
//
//	sys        Syscall and SyscallOn, the only door to a kernel; the Kernel
//	           interface, the registry (GOKERNEL, GOKERNEL_CONFIG), Tracer,
//	           Injector. Kernels: sys/host (pure Go) and sys/lkl (cgo,
//	           -tags lkl), with sys/lkl/usernet, LKL's rootless network.
//	libgo      typed, libc-like wrappers over sys (files, sockets, epoll, …)
//	aio        an epoll Poller and non-blocking fd readiness
//	eloop      an event loop: fd callbacks, timers, a worker pool
//	ufs        io/fs.FS plus writes, confined to a root like os.Root
//	unet       net.Conn, net.Listener, net.PacketConn; net/http runs on it
//	cmd/demo   a command-line tour of every layer on either kernel
//
// Everything above sys is pure Go and kernel-independent: a program built on
// it runs on the host, and the same binary, built with -tags lkl, runs on
// LKL when started with GOKERNEL=lkl.
//
// # Three ways to use it
//
// The programs under examples/ show each:
//
//   - one function for every system call: sys.Syscall takes the numbers,
//     flags and structs of golang.org/x/sys/unix and returns a
//     syscall.Errno (examples/hello);
//   - the kernel chosen at startup: sys.Init reads GOKERNEL and
//     GOKERNEL_CONFIG and never falls back to the host when the choice
//     cannot be honoured; sys.Shutdown stops LKL in order, flushing its disks
//     (examples/retarget);
//   - a program on ufs and unet that runs unchanged on both kernels: on LKL
//     its files come from disk images GOKERNEL_CONFIG mounts and its TCP
//     connections run over LKL's own network (examples/fileserver).
//
// # LKL from another module
//
// The lkl build needs LKL's library and headers, built from the recipe in
// third_party/lkl. From a module that depends on gokernel:
//
//	go run github.com/gokernel/gokernel/cmd/gokernel-lkl install
//	go build -tags lkl ./...
//
// install builds LKL once per machine (about five minutes; later modules and
// versions with the same recipe reuse ~/.cache/gokernel/lkl) and points cgo
// at it with go env -w, so go build, go test, go vet and gopls all find it.
// Binaries built with -tags lkl link LKL, which is GPL-2.0. See
// docs/kernels.md and docs/lkl-build.md.
package gokernel
