package aio

import (
	"runtime"
	"time"
)

// A Waiter waits on a Poller for a goroutine that does nothing else but
// wait and dispatch what it gets (eloop's loop, unet's dispatcher).
//
// On the host kernel, after a Wait that found events, the next one does
// not block (timeout 0), and when that finds nothing the goroutine yields
// (runtime.Gosched) once before it blocks; gnet's poller does the same.
// The events just dispatched usually woke goroutines, which sit in this
// goroutine's P, and a goroutine blocked in epoll_pwait keeps its P until
// Go's sysmon takes it back (20 µs to 10 ms). Blocking at once after each
// turn cost eloop's echo server 0.3 sysmon wake-ups and 0.15 futex calls
// per 16 KiB message (~0.01 and 0 after) and a fifth more CPU; for unet's
// dispatcher, alternated runs against net gave 16 KiB echo CPU/msg 1.15 →
// 0.94 and HTTP p99 0.95 → 0.77. On LKL, where every call enters the
// library kernel, the extra polls made the in-process echo 14% costlier
// per message, so there a Waiter just waits.
//
// A Waiter belongs to one goroutine.
type Waiter struct {
	p     *Poller
	yield bool // on the host kernel
	busy  bool // the last Wait found events
}

// NewWaiter returns a Waiter on p.
func (p *Poller) NewWaiter() Waiter {
	return Waiter{p: p, yield: p.lc.Kernel().Name() == "host"}
}

// Wait is Poller.Wait with the Waiter's policy: timeout applies only when
// the previous Wait found nothing (or on LKL).
func (w *Waiter) Wait(events []Event, timeout time.Duration) (int, error) {
	if w.busy {
		timeout = 0
	}
	n, err := w.p.Wait(events, timeout)
	if w.busy && n == 0 {
		runtime.Gosched()
	}
	w.busy = n > 0 && w.yield
	return n, err
}
