package aio

import (
	"runtime"
	"time"

	"github.com/gokernel/gokernel/sys"
)

// A Waiter waits on a Poller for a goroutine that does nothing else but
// wait and dispatch what it gets (eloop's loop, unet's dispatcher). Its
// policy is the one place that decides when such a goroutine yields:
//
//   - On the host kernel, after a Wait that found events, the next one
//     does not block (timeout 0), and when that finds nothing the
//     goroutine yields (runtime.Gosched) once before it blocks, as gnet's
//     poller does: the goroutines the events woke sit in this goroutine's
//     P, and a goroutine blocked in epoll_pwait keeps its P until Go's
//     sysmon takes it back (20 µs to 10 ms).
//   - On a kernel that is not the host (LKL), where every call enters the
//     library kernel and an extra poll costs more than it saves, the next
//     Wait blocks at once, but after a Wait that found events the
//     goroutine yields first. Without that, the goroutines just woken wait
//     for sysmon to hand the P to another thread, and their LKL calls then
//     come from that thread while this one sleeps in LKL: one more host
//     context switch and P hand-off per turn (docs/eloop.md has the
//     measurements).
//   - With YieldAfterEvents, the goroutine yields after every Wait that
//     found events on any kernel (unet's dispatcher, whose events only
//     wake goroutines).
//
// A Waiter belongs to one goroutine.
type Waiter struct {
	// YieldAfterEvents makes the Waiter yield after every Wait that
	// found events, on the host kernel too.
	YieldAfterEvents bool

	p     *Poller
	host  bool // the poller's kernel is the host's (sys.IsHost)
	found bool // the last Wait found events
}

// NewWaiter returns a Waiter on p.
func (p *Poller) NewWaiter() Waiter {
	return Waiter{p: p, host: sys.IsHost(p.lc.Kernel())}
}

// Wait is Poller.Wait with the Waiter's policy.
func (w *Waiter) Wait(events []Event, timeout time.Duration) (int, error) {
	if w.found && (w.YieldAfterEvents || !w.host) {
		runtime.Gosched()
	}
	poll := w.found && w.host
	if poll {
		timeout = 0
	}
	n, err := w.p.Wait(events, timeout)
	if poll && n == 0 {
		runtime.Gosched()
	}
	w.found = n > 0
	return n, err
}
