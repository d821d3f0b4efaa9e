package aio

import (
	"runtime"
	"time"

	"github.com/gokernel/gokernel/sys"
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
	return Waiter{p: p, yield: sys.IsHost(p.lc.Kernel())}
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

// LostWakeBound bounds each wait of unet's dispatcher, the one wait in
// gokernel that is bounded without a deadline or timer asking for it. In
// runs of the LKL echo demo under load, before LKL fix 12 (third_party/lkl
// fixes.sh: a host thread leaving LKL runs the tasks it woke), a wait
// blocked in LKL's epoll_pwait sometimes missed the eventfd write meant to
// wake it (2 runs of 18 hung at exit; with the bound, 0 of 24). Whether
// fix 12 removed the cause is under investigation (issue #14, item 2);
// until it is settled the bound stays, here, at the cost of ten idle
// wake-ups a second of a dispatcher with sockets open.
const LostWakeBound = 100 * time.Millisecond
