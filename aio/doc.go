// Package aio gives epoll readiness for non-blocking fds, on any kernel
// (and io_uring on the host, below): a [Poller] that reports which fds
// can be read or written without blocking, a [Waiter] for the goroutine
// that waits in one, and [Nonblock] calls that say "would block" instead
// of blocking.
//
// aio sits on libgo, which makes every system call through a sys.Kernel,
// and on sys for the Kernel type; it imports nothing above them, and of
// golang.org/x/sys/unix only constants and types. It is used by eloop,
// whose loop waits in a Poller, by unet's dispatcher, and through eloop by
// ufs, the
// way internal/poll serves package net and os on top of the runtime's
// poller. Errors are wrapped once, where the call is made, as
// *os.SyscallError; a closed Poller says fs.ErrClosed.
//
// # The fd runtime
//
// aio is gokernel's fd runtime, what internal/poll is to package net and
// os; eloop, unet and ufs build on it and keep no copy of it:
//
//   - [FD] and [Refs]: an fd owned by a Go object, with one atomic word
//     for the closed bit and the reference count, read and write locks,
//     and a Close that wakes every waiter and lets the last reference
//     close the fd;
//   - [PollDesc]: readiness per direction, deadlines, and the one
//     try → wait → try again loop, [PollDesc.Retry] ([FD.ReadRetry] and
//     [FD.WriteRetry] under the FD's locks; ErrCanceled for a caller's
//     cancel channel);
//   - [Slots]: the one table of epoll tokens (slot index and generation;
//     stale events dropped, ReservedToken never given);
//   - [Nonblock]: the non-blocking call set (read, write, readv, writev,
//     pread, pwrite, accept4, connect, sendto, sendmsg, recvfrom, recvmsg,
//     splice, sendfile) and the one EAGAIN policy, "would block" as a bool; EINTR
//     (and ECONNABORTED for accept4) are retried below, in libgo;
//   - [Kind]: the one place that says which closed error an object
//     returns, net.ErrClosed for sockets and loops, fs.ErrClosed for files;
//   - [Poller] and [Waiter]: epoll itself, and the goroutine that waits in
//     it; no wait is bounded unless a deadline or timer asks for it.
//
// # io_uring
//
// The second backend, on the host only: a [Ring] is an io_uring instance
// (submission and completion queues mapped with mmap, system calls
// through libgo, so traced and fault-injected like the rest), with Prep
// methods on [SQE] for each operation, a [BufRing] of provided buffers,
// and a [Probe] of the kernel's operations. [Choose] says which backend
// to use on a kernel (GOKERNEL_AIO=epoll|uring|auto): LKL, Linux 4.9, has
// no io_uring and is always epoll. eloop's loop and stream server run on
// either; docs/aio.md compares them.
package aio
