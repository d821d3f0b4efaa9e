package aio

import (
	"errors"
	"os"
	"sync"
	"time"
)

// A PollDesc is the readiness half of the fd runtime for one fd
// (internal/poll's pollDesc): a one-slot channel per direction that
// whoever reads the poller fills without blocking (Notify; notifications
// coalesce), a deadline per direction, and a channel closed when the fd
// is being closed (FD.Close).
//
// Waiting is try, then Wait, then try again (FD's callers loop so): a
// readiness event that arrives between a failed try and the wait stays in
// the channel, so none is lost; a stale one only costs one more try.
type PollDesc struct {
	Token   uint64 // the fd's epoll token (a Slots index and generation)
	rready  chan struct{}
	wready  chan struct{}
	closing chan struct{}
	kind    Kind
	rdl     deadline
	wdl     deadline
}

// NewPollDesc returns the PollDesc of an fd whose closed error is kind's.
func NewPollDesc(kind Kind) *PollDesc {
	return &PollDesc{
		rready:  make(chan struct{}, 1),
		wready:  make(chan struct{}, 1),
		closing: make(chan struct{}),
		kind:    kind,
		rdl:     deadline{ch: make(chan struct{})},
		wdl:     deadline{ch: make(chan struct{})},
	}
}

// Notify passes one poller event to the waiters. It never blocks.
func (pd *PollDesc) Notify(ev Events) {
	if ev&(Read|RDHUP|HUP|Error) != 0 {
		select {
		case pd.rready <- struct{}{}:
		default:
		}
	}
	if ev&(Write|HUP|Error) != 0 {
		select {
		case pd.wready <- struct{}{}:
		default:
		}
	}
}

// A Mode is a direction of PollDesc's waits, as in internal/poll.
type Mode int

// The modes.
const (
	ModeRead  Mode = 'r'
	ModeWrite Mode = 'w'
)

// ErrCanceled is Wait's error when its cancel channel was closed; the
// caller maps it to its own (a context's error, say).
var ErrCanceled = errors.New("aio: wait canceled")

// Prepare fails at once if the fd is closing or the mode's deadline has
// passed: net fails an operation after a past deadline even when it could
// succeed.
func (pd *PollDesc) Prepare(mode Mode) error {
	select {
	case <-pd.closing:
		return pd.kind.ErrClosed()
	default:
	}
	select {
	case <-pd.dl(mode).done():
		return os.ErrDeadlineExceeded
	default:
	}
	return nil
}

// Wait blocks until the fd may be ready for mode, its deadline passes
// (os.ErrDeadlineExceeded), it is closed (the kind's closed error) or
// cancel is closed (ErrCanceled); cancel may be nil.
func (pd *PollDesc) Wait(mode Mode, cancel <-chan struct{}) error {
	ready := pd.rready
	if mode == ModeWrite {
		ready = pd.wready
	}
	select {
	case <-ready:
		return nil
	case <-pd.closing:
		return pd.kind.ErrClosed()
	case <-pd.dl(mode).done():
		return os.ErrDeadlineExceeded
	case <-cancel:
		return ErrCanceled
	}
}

// Closing returns the channel closed when the fd is being closed, for a
// wait on another fd that must end with this one (a splice).
func (pd *PollDesc) Closing() <-chan struct{} { return pd.closing }

// SetDeadline sets the deadline of mode, or of both directions for
// mode 0: zero clears it, a past t fails waits at once.
func (pd *PollDesc) SetDeadline(mode Mode, t time.Time) {
	if mode != ModeWrite {
		pd.rdl.set(t)
	}
	if mode != ModeRead {
		pd.wdl.set(t)
	}
}

func (pd *PollDesc) dl(mode Mode) *deadline {
	if mode == ModeWrite {
		return &pd.wdl
	}
	return &pd.rdl
}

// evict wakes every waiter for good and stops the deadline timers; FD.Close
// calls it once.
func (pd *PollDesc) evict() {
	close(pd.closing)
	pd.rdl.stop()
	pd.wdl.stop()
}

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
