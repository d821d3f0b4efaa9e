package eloop

import (
	"container/heap"
	"time"
)

// A Timer runs a function on the loop goroutine once its time comes; see
// Loop.AfterFunc. Its methods may be called from any goroutine, including
// from callbacks.
type Timer struct {
	l     *Loop
	f     func()
	when  time.Time // on the monotonic clock
	seq   uint64    // order of creation or last Reset, for ties
	index int       // in l.timers, or -1 when not pending; guarded by l.mu
}

// AfterFunc makes a Timer that runs f on the loop goroutine after d (at
// once, in the next turn, for d <= 0). Timers fire in the order of their
// deadlines, and timers with equal deadlines in the order they were made
// or last Reset. A timer still pending when the loop stops never fires.
func (l *Loop) AfterFunc(d time.Duration, f func()) *Timer {
	t := &Timer{l: l, f: f, index: -1}
	l.mu.Lock()
	l.schedule(t, d)
	l.mu.Unlock()
	l.p.Wake()
	return t
}

// schedule puts t in the heap at now+d. l.mu is held.
func (l *Loop) schedule(t *Timer, d time.Duration) {
	t.when = time.Now().Add(d)
	l.timerSeq++
	t.seq = l.timerSeq
	if l.state == stateClosed {
		return // never fires
	}
	if t.index >= 0 {
		heap.Fix(&l.timers, t.index)
	} else {
		heap.Push(&l.timers, t)
	}
}

// Stop prevents the timer from firing. As time.Timer's Stop, it returns
// true if that stopped it, false if it had already fired (or its
// callback has started) or been stopped.
func (t *Timer) Stop() bool {
	l := t.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if t.index < 0 {
		return false
	}
	heap.Remove(&l.timers, t.index)
	return true
}

// Reset makes the timer fire after d from now, whether it was pending,
// fired or stopped. As time.Timer's Reset, it returns true if the timer
// was pending, false if it had fired or been stopped.
func (t *Timer) Reset(d time.Duration) bool {
	l := t.l
	l.mu.Lock()
	active := t.index >= 0
	l.schedule(t, d)
	l.mu.Unlock()
	l.p.Wake()
	return active
}

// waitTimeout is the poller's timeout for the next turn: 0 if tasks are
// queued, the time to the next deadline if a timer is pending, else -1.
func (l *Loop) waitTimeout() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.tasks) > 0 {
		return 0
	}
	if len(l.timers) == 0 {
		return -1
	}
	return max(time.Until(l.timers[0].when), 0)
}

// runTimers fires, in order, the timers due now that were scheduled
// before this call: one rescheduled from its own callback waits for the
// next turn.
func (l *Loop) runTimers() {
	l.mu.Lock()
	last, none := l.timerSeq, len(l.timers) == 0
	l.mu.Unlock()
	if none {
		return // and no clock read: most turns have no timer
	}
	now := time.Now()
	for {
		l.mu.Lock()
		if len(l.timers) == 0 {
			l.mu.Unlock()
			return
		}
		t := l.timers[0]
		if t.when.After(now) || t.seq > last {
			l.mu.Unlock()
			return
		}
		heap.Pop(&l.timers)
		l.mu.Unlock()
		l.call(t.f)
	}
}

// timerHeap orders timers by deadline, then by seq; container/heap
// drives it.
type timerHeap []*Timer

func (h timerHeap) Len() int { return len(h) }

func (h timerHeap) Less(i, j int) bool {
	if !h[i].when.Equal(h[j].when) {
		return h[i].when.Before(h[j].when)
	}
	return h[i].seq < h[j].seq
}

func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}

func (h *timerHeap) Push(x any) {
	t := x.(*Timer)
	t.index = len(*h)
	*h = append(*h, t)
}

func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	t.index = -1
	return t
}
