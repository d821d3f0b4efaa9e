// Package lkl is the LKL kernel: a Linux 4.9 kernel linked into the process
// as a library (liblkl.a, built by cmd/gokernel-lkl), answering system calls with
// its own file systems, TCP/IP stack and fd table.
//
// lkl sits under package sys beside sys/host. It is cgo and needs the build
// tag lkl; without the tag only the configuration types are built, so
// programs can still parse and check an LKL configuration. sys registers
// this kernel as "lkl" in sys/register_lkl.go, so GOKERNEL=lkl works for
// any program built with -tags lkl; programs that want the kernel as a value
// call [Boot]. lkl imports nothing of gokernel but its own user network,
// sys/lkl/usernet, and nothing above sys should import it except to boot or
// halt a kernel or to forward ports: system calls go through sys.Syscall or
// sys.SyscallOn.
//
// Networking (docs/networking.md): LKL always has its loopback. An
// interface of type "user" gives it a rootless network, a virtio-net device
// on one end of a host socketpair with gVisor's netstack on the other as
// router, NAT and DNS forwarder (package usernet), and port forwards from
// host addresses into LKL ([Kernel.Forward], Config.Forward). An interface
// of type "tap" puts LKL on a host TAP device.
//
// The kernel speaks the host's ABI at its door (the numbers, flags and
// structs of golang.org/x/sys/unix for amd64) and translates at its own
// boundary:
//
//   - numbers are mapped to LKL's asm-generic ones by a table generated from
//     LKL's headers (zsysnum_lkl_amd64.go, by mkabi.go);
//   - calls are rewritten where a translation is needed or the generic ABI
//     prefers another form (open → openat, stat → newfstatat + struct
//     conversion, pipe → pipe2, poll → ppoll, epoll_wait → epoll_pwait,
//     dup2 → dup3, …), in the hand-written table in rewrite.go;
//   - struct stat is converted from LKL's generic layout
//     (ztypes_lkl_amd64.go, by cgo -godefs); the other structs that cross
//     the door have the same layout on both sides, which tests check;
//   - a number LKL does not have, or a call that makes no sense inside a
//     library kernel (fork, execve, exit, reboot), returns ENOSYS.
//
// [Kernel.ForProcess] gives the same kernel to another host process: its
// calls take their pointer arguments as addresses in that process, which
// LKL itself reads and writes with process_vm_readv/process_vm_writev
// (third_party/lkl fix 16; docs/kernels.md), nested pointers included.
//
// One LKL kernel can run per process, once: LKL cannot boot again after it
// halts. Binaries built with -tags lkl link LKL, which is GPL-2.0.
package lkl

//go:generate go run mkabi.go
//go:generate go run mkrecipe.go
