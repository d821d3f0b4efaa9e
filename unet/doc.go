// Package unet provides net.Conn, net.Listener, net.PacketConn and a
// resolver on any kernel: the standard library's interfaces over sockets
// of a sys.Kernel, so net/http, gRPC or a database driver that takes a
// dialer runs on gokernel's stack, and with GOKERNEL=lkl on an in-process
// Linux TCP/IP stack.
//
// unet sits on aio (its Poller and non-blocking calls), libgo (every
// system call, through a sys.Kernel), sys (the Kernel type) and eloop
// (only for Options.Loop); it imports nothing above them, never ufs, and
// of golang.org/x/sys/unix only constants and types. It is used by
// programs and by cmd/demo.
//
// The package-level Listen, Dial, DialContext and ListenPacket work on the
// process default kernel; a [Stack] made with [New] binds the same
// methods to an explicit kernel, so one program can serve on the host and
// on LKL at once.
//
// # Blocking
//
// Sockets are non-blocking. Each Stack has one aio.Poller, and while any
// socket is open one goroutine waits in it and turns each event into a
// wake-up of the goroutines blocked on that socket, the way the runtime's
// netpoller serves package net; when the last socket closes the goroutine
// returns, so an idle Stack holds no thread in epoll_pwait. Each fd is
// registered once, edge-triggered for reading and writing, under a slot
// index and generation, never a pointer. An operation tries the call,
// waits on a one-slot channel that the dispatcher fills without blocking,
// and tries again. A Stack made with Options.Loop leaves the dispatch to
// an eloop.Loop instead: each socket is a Loop.Watch whose callback fills
// the same channels, so a program built on the loop has one poller and
// one waiting goroutine in all. That is not the default because it is one
// more hop between the event and the goroutine that needs it, and it ties
// the Stack to a running Loop.
//
// The dispatcher's waits are unbounded: adding, removing and closing a
// socket wake the poller, and a deadline is a timer of its own.
//
// With GOKERNEL_AIO=uring, on a host that has io_uring, the dispatcher
// waits on an io_uring instead (Stack.Backend says which): one multishot
// IORING_OP_POLL_ADD per socket stands for epoll's registration, the
// dispatcher goroutine alone submits to the ring (other goroutines queue
// their requests and wake it through an eventfd the ring polls), and a
// socket's Close cancels its poll and waits for the last completion before
// the fd is closed. Every call path above the dispatcher is the same.
// Unset or auto is epoll: measured, the io_uring dispatcher costs more CPU
// per request (docs/aio.md, "unet on io_uring"). LKL is always epoll.
// GOKERNEL_URING_RECV=1 adds a completion-based receive on that backend:
// a TCP conn whose Read found it empty gets a multishot IORING_OP_RECV
// into a provided buffer ring, and Read takes the received bytes from
// the conn's queue with no system call. It is off by default because it
// measured no cheaper (docs/aio.md, "Completion-based receive").
//
// Of the fd runtime (aio) unet uses all of it: FD and PollDesc for each
// socket (reference count, read and write locks, readiness, deadlines,
// close), the one try → wait → try again loop (FD.ReadRetry and
// WriteRetry, PollDesc.Retry for connect, RawConn, splice and sendfile),
// Slots for the dispatcher's tokens, Nonblock for every call, the
// Poller and a Waiter for the dispatcher, and aio.Socket's closed error
// (net.ErrClosed).
//
// Deadlines are gonet's: per direction, a channel that a timer closes,
// replaced when a deadline is set again. Close wakes every blocked call
// with net.ErrClosed, waits for the calls in progress, and closes the fd
// last, as internal/poll does.
//
// # Errors
//
// Errors are *net.OpError{Op, Net, Source, Addr, Err}, where Err is an
// *os.SyscallError naming the call, or net.ErrClosed, or
// os.ErrDeadlineExceeded (whose Timeout() is true); end of stream is a
// bare io.EOF. Resolver errors are *net.DNSError.
package unet
