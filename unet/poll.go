package unet

import (
	"errors"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gokernel/gokernel/aio"
	"github.com/gokernel/gokernel/eloop"
)

// netpoll is a Stack's readiness dispatcher: one aio.Poller, and one
// goroutine blocked in its Wait that turns each event into a wake-up of the
// goroutines waiting on that fd (see pollDesc). The goroutine runs only while
// fds are registered: it starts with the first and returns after the last is
// closed, so an idle Stack holds no goroutine and no thread in epoll_pwait
// (which LKL's Halt could not wake).
//
// Each fd is registered once, edge-triggered for reading and writing, and
// its epoll token is a slot index plus a generation, never a pointer: an
// event for a slot freed since is dropped, as the runtime does with fdseq.
//
// A Stack bound to a Loop (Options.Loop) has no poller and no goroutine of
// its own: each fd is a watch of the Loop whose callback is pd.notify, and
// the table only lists the descriptors for Stack.Close.
type netpoll struct {
	p    *aio.Poller // nil with a Loop
	loop *eloop.Loop

	mu      sync.Mutex
	slots   []pollSlot
	free    []uint32
	live    int           // registered descriptors
	running bool          // a dispatch goroutine runs and has not been told to stop
	epoch   uint64        // the running goroutine's number; a goroutine whose number is old stops
	done    chan struct{} // closed when the running goroutine returns
	closed  bool
}

type pollSlot struct {
	gen uint32
	pd  *pollDesc
}

// waitTimeout bounds each wait of the dispatcher. Wakes come through the
// poller's eventfd; the timeout is a safety net for a kernel that loses one
// (LKL, see the package doc), at the cost of a few idle wake-ups a second.
const waitTimeout = 100 * time.Millisecond

// pollEvents is how every fd is registered (runtime/netpoll_epoll.go).
const pollEvents = aio.Read | aio.Write | aio.RDHUP | aio.EdgeTriggered

// add registers fd and returns its descriptor.
func (np *netpoll) add(fd int) (*pollDesc, error) {
	pd := newPollDesc()
	np.mu.Lock()
	if np.closed {
		np.mu.Unlock()
		return nil, net.ErrClosed
	}
	var idx uint32
	if n := len(np.free); n > 0 {
		idx = np.free[n-1]
		np.free = np.free[:n-1]
	} else {
		idx = uint32(len(np.slots))
		np.slots = append(np.slots, pollSlot{})
	}
	s := &np.slots[idx]
	s.pd = pd
	pd.token = uint64(idx) | uint64(s.gen)<<32
	np.live++
	if np.loop != nil {
		np.mu.Unlock()
		id, err := np.loop.Watch(fd, pollEvents, pd.notify)
		if err != nil {
			np.remove(pd)
			return nil, err
		}
		pd.watch = id
		return pd, nil
	}
	if !np.running {
		np.running = true
		np.epoch++
		np.done = make(chan struct{})
		go np.run(np.epoch, np.done)
	}
	np.mu.Unlock()
	if err := np.p.Add(fd, pollEvents, pd.token); err != nil {
		np.remove(pd)
		return nil, err
	}
	return pd, nil
}

// remove frees pd's slot; its fd is closed (or about to be) by the caller,
// which takes it out of the epoll set (with a Loop, remove unwatches it
// first; an error there means the Loop has stopped and its poller is
// gone). Removing the last descriptor waits
// until the dispatch goroutine has left epoll_pwait and returned, so that
// once every socket is closed no call of the Stack is inside the kernel
// (LKL's Halt refuses to stop while one is).
func (np *netpoll) remove(pd *pollDesc) {
	idx := uint32(pd.token)
	var idle chan struct{}
	np.mu.Lock()
	s := &np.slots[idx]
	if s.pd == pd {
		s.pd = nil
		s.gen++
		np.free = append(np.free, idx)
		np.live--
		if np.live == 0 && np.running {
			// Tell the goroutine to stop; a later add starts another,
			// which waits in Wait (serialized) until this one is out.
			np.running = false
			np.epoch++
			idle = np.done
			np.p.Wake() // an error means closed, which ends the goroutine too
		}
	}
	np.mu.Unlock()
	if pd.watch != 0 {
		np.loop.Unwatch(pd.watch)
	}
	if idle != nil {
		<-idle
	}
}

// run dispatches events until remove or close tells it to stop (a newer
// epoch).
func (np *netpoll) run(epoch uint64, done chan struct{}) {
	defer close(done)
	var evs [128]aio.Event
	w := np.p.NewWaiter() // polls again before it blocks (host only; see aio.Waiter)
	for {
		n, err := w.Wait(evs[:], waitTimeout)
		np.mu.Lock()
		for _, ev := range evs[:n] {
			idx, gen := uint32(ev.Token), uint32(ev.Token>>32)
			if int(idx) < len(np.slots) && np.slots[idx].gen == gen && np.slots[idx].pd != nil {
				np.slots[idx].pd.notify(ev.Events)
			}
		}
		if np.epoch != epoch || np.closed || (err != nil && errors.Is(err, os.ErrClosed)) {
			if np.epoch == epoch {
				np.running = false
			}
			np.mu.Unlock()
			return
		}
		np.mu.Unlock()
		if err != nil {
			// A failing epoll_pwait (it should not) would spin: back off.
			time.Sleep(time.Millisecond)
		}
		if n > 0 {
			// The goroutines just woken sit in this P's run queue, and
			// the next Wait is a system call that keeps the P until the
			// runtime's sysmon takes it back (20 µs to 10 ms). Yield, so
			// they run first.
			runtime.Gosched()
		}
	}
}

// descriptors returns the registered descriptors (for Stack.Close).
func (np *netpoll) descriptors() []*pollDesc {
	np.mu.Lock()
	defer np.mu.Unlock()
	var pds []*pollDesc
	for _, s := range np.slots {
		if s.pd != nil {
			pds = append(pds, s.pd)
		}
	}
	return pds
}

// close stops the goroutine, then closes the poller.
func (np *netpoll) close() error {
	np.mu.Lock()
	if np.closed {
		np.mu.Unlock()
		return net.ErrClosed
	}
	np.closed = true
	done := np.done
	np.mu.Unlock()
	if np.p == nil {
		return nil // the Loop's poller is the Loop's
	}
	if done != nil {
		np.p.Wake()
		<-done
	}
	return np.p.Close()
}

// A pollDesc is the readiness state of one fd: a one-slot channel per
// direction that the dispatcher fills without blocking (waiter's
// ChannelNotifier: notifications coalesce), a deadline per direction, and
// a channel closed when the fd is being closed.
//
// Waiting is try, then wait, then try again: a readiness event that
// arrives between a failed try and the wait stays in the channel, so none
// is lost; a stale one only costs one more try.
type pollDesc struct {
	token   uint64
	watch   eloop.WatchID         // with a Loop: the fd's watch (0 until Watch succeeds)
	owner   atomic.Pointer[netFD] // for Stack.Close
	rready  chan struct{}
	wready  chan struct{}
	closing chan struct{}
	rdl     deadline
	wdl     deadline
}

func newPollDesc() *pollDesc {
	return &pollDesc{
		rready:  make(chan struct{}, 1),
		wready:  make(chan struct{}, 1),
		closing: make(chan struct{}),
		rdl:     deadline{ch: make(chan struct{})},
		wdl:     deadline{ch: make(chan struct{})},
	}
}

// notify passes one event to the waiters. It never blocks.
func (pd *pollDesc) notify(ev aio.Events) {
	if ev&(aio.Read|aio.RDHUP|aio.HUP|aio.Error) != 0 {
		select {
		case pd.rready <- struct{}{}:
		default:
		}
	}
	if ev&(aio.Write|aio.HUP|aio.Error) != 0 {
		select {
		case pd.wready <- struct{}{}:
		default:
		}
	}
}

// Modes of prepare and wait, as in internal/poll.
const (
	modeRead  = 'r'
	modeWrite = 'w'
)

// prepare fails at once if the fd is closing or the mode's deadline has
// passed: net fails an operation after a past deadline even when it could
// succeed.
func (pd *pollDesc) prepare(mode int) error {
	select {
	case <-pd.closing:
		return net.ErrClosed
	default:
	}
	dl := &pd.rdl
	if mode == modeWrite {
		dl = &pd.wdl
	}
	select {
	case <-dl.done():
		return os.ErrDeadlineExceeded
	default:
	}
	return nil
}

// wait blocks until the fd may be ready for mode, its deadline passes
// (os.ErrDeadlineExceeded), it is closed (net.ErrClosed) or cancel is
// closed (errCanceled); cancel may be nil.
func (pd *pollDesc) wait(mode int, cancel <-chan struct{}) error {
	ready, dl := pd.rready, &pd.rdl
	if mode == modeWrite {
		ready, dl = pd.wready, &pd.wdl
	}
	select {
	case <-ready:
		return nil
	case <-pd.closing:
		return net.ErrClosed
	case <-dl.done():
		return os.ErrDeadlineExceeded
	case <-cancel:
		return errCanceled
	}
}

// errCanceled is wait's result for a cancelled context; dial maps it to
// the context's error.
var errCanceled = errors.New("unet: operation was canceled")

// A deadline is gonet's deadlineTimer for one direction: a channel that a
// timer closes when the deadline passes. Setting a new deadline replaces a
// closed channel, so the fd is usable again.
type deadline struct {
	mu    sync.Mutex
	timer *time.Timer
	ch    chan struct{}
}

// done returns the channel closed when the deadline passes.
func (d *deadline) done() <-chan struct{} {
	d.mu.Lock()
	ch := d.ch
	d.mu.Unlock()
	return ch
}

// set sets the deadline to t: zero clears it, a past t closes the channel
// at once.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		// The timer fired and its function closes (or has closed) the
		// channel: waiters will see it; later ones get a fresh one.
		d.ch = make(chan struct{})
	} else {
		select {
		case <-d.ch: // closed by a past deadline
			d.ch = make(chan struct{})
		default:
		}
	}
	d.timer = nil
	if t.IsZero() {
		return
	}
	dur := time.Until(t)
	if dur <= 0 {
		close(d.ch)
		return
	}
	ch := d.ch
	d.timer = time.AfterFunc(dur, func() { close(ch) })
}

// stop stops the timer when the fd is closed.
func (d *deadline) stop() {
	d.mu.Lock()
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	d.mu.Unlock()
}
