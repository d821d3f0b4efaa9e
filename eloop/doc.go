// Package eloop runs an event loop on one goroutine: callbacks for fd
// readiness, timers on a min-heap, tasks posted from other goroutines,
// and a bounded pool of worker goroutines for blocking work whose results
// come back to the loop, in the manner of gnet's event loops.
//
// eloop sits on aio, whose Poller it waits in, on libgo for its calls and
// on sys for the Kernel type; it imports nothing above them, and of
// golang.org/x/sys/unix only constants and types. It is used by unet and
// ufs, which build connections and files on its loops, and through them by
// cmd/demo. Errors from the poller are passed on as aio wrapped them
// (*os.SyscallError); a stopped Loop says net.ErrClosed.
//
// Of the fd runtime (aio) eloop uses the Poller and a Waiter for its loop,
// Slots for its watches' tokens, Nonblock for its server's calls (and
// with it the one errno policy: EAGAIN is "would block", EINTR and
// accept4's ECONNABORTED are retried in libgo), and aio.Socket's closed
// error (net.ErrClosed). Its server's connections are owned by their
// loop goroutine alone, so they need no FD reference count, and nothing
// in eloop blocks: a call that would block returns to the loop, which
// calls again on the next readiness event, so it has no use for
// PollDesc's wait loop (Retry).
//
// On the host a loop waits in an io_uring Ring instead (aio.Choose; see
// Options.Backend), which also watches its Poller, and the stream server
// accepts, receives and sends through the ring; docs/aio.md and
// docs/eloop.md describe both paths.
package eloop
