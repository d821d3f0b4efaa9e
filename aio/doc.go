// Package aio gives epoll readiness for non-blocking fds, on any kernel:
// a [Poller] that reports which fds can be read or written without
// blocking, a [Waiter] for the goroutine that waits in one, and
// [Nonblock] calls that say "would block" instead of blocking.
//
// aio sits on libgo, which makes every system call through a sys.Kernel,
// and on sys for the Kernel type; it imports nothing above them, and of
// golang.org/x/sys/unix only constants and types. It is used by eloop,
// whose loop waits in a Poller, by unet's dispatcher, and through eloop by
// ufs, the
// way internal/poll serves package net and os on top of the runtime's
// poller. Errors are wrapped once, where the call is made, as
// *os.SyscallError; a closed Poller says fs.ErrClosed.
package aio
