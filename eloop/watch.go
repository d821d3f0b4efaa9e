package eloop

import (
	"fmt"
	"net"
	"os"
	"runtime/debug"

	"github.com/gokernel/gokernel/aio"
)

// A WatchID names one registration made by Loop.Watch. It is also the
// registration's epoll token: a slot index in the low 32 bits and the
// slot's generation in the high 32, never a Go pointer. Unwatch moves the
// slot to a new generation, so an event still on its way for a watch that
// is gone (say for an fd closed and whose number was reused) does not
// match and is dropped, as the runtime's netpoll does with fdseq.
type WatchID uint64

// watchSlot is one entry of the Loop's watch table.
type watchSlot struct {
	gen  uint32 // bumped at each Watch and Unwatch of the slot
	used bool
	fd   int
	cb   func(aio.Events)
}

// Watch registers fd, which should be non-blocking, with the loop's
// poller for the events ev (see aio.Poller.Add), and calls cb on the loop
// goroutine with what happened each time the poller reports fd. Errors
// are those of aio.Poller.Add; on a stopped loop, net.ErrClosed.
func (l *Loop) Watch(fd int, ev aio.Events, cb func(ev aio.Events)) (WatchID, error) {
	l.mu.Lock()
	if l.state == stateClosed {
		l.mu.Unlock()
		return 0, fmt.Errorf("eloop: watch: %w", net.ErrClosed)
	}
	var idx uint32
	if n := len(l.freeSlots); n > 0 {
		idx = l.freeSlots[n-1]
		l.freeSlots = l.freeSlots[:n-1]
	} else {
		idx = uint32(len(l.slots))
		l.slots = append(l.slots, watchSlot{})
	}
	s := &l.slots[idx]
	s.gen++
	if uint64(s.gen)<<32|uint64(idx) == aio.ReservedToken {
		s.gen++
	}
	s.used, s.fd, s.cb = true, fd, cb
	id := WatchID(uint64(s.gen)<<32 | uint64(idx))
	l.mu.Unlock()
	if err := l.p.Add(fd, ev, uint64(id)); err != nil {
		l.release(id)
		return 0, err
	}
	return id, nil
}

// Unwatch removes the registration id from the poller. Called on the loop
// goroutine (from a callback), it ensures that the callback is not called
// again, even for events already reported; called from another goroutine,
// a call already under way may still finish after it returns. It must
// come before fd is closed. An id that is not registered (any more) is
// os.ErrInvalid; other errors are those of aio.Poller.Delete, and the
// registration is gone after them as well.
func (l *Loop) Unwatch(id WatchID) error {
	fd, ok := l.release(id)
	if !ok {
		return fmt.Errorf("eloop: unwatch %#x: %w", uint64(id), os.ErrInvalid)
	}
	return l.p.Delete(fd)
}

// release frees id's slot, moving it to a new generation, and returns its
// fd; ok is false if id is not current.
func (l *Loop) release(id WatchID) (fd int, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.lookup(uint64(id))
	if s == nil {
		return -1, false
	}
	s.gen++
	s.used, s.cb = false, nil
	l.freeSlots = append(l.freeSlots, uint32(id))
	return s.fd, true
}

// lookup returns the slot of token if its generation is current, else
// nil. l.mu is held.
func (l *Loop) lookup(token uint64) *watchSlot {
	idx, gen := uint32(token), uint32(token>>32)
	if uint64(idx) >= uint64(len(l.slots)) {
		return nil
	}
	s := &l.slots[idx]
	if !s.used || s.gen != gen {
		return nil
	}
	return s
}

// dispatch calls the callback of the watch token names, if it is current.
func (l *Loop) dispatch(token uint64, ev aio.Events) {
	l.mu.Lock()
	var cb func(aio.Events)
	if s := l.lookup(token); s != nil {
		cb = s.cb
	}
	l.mu.Unlock()
	if cb != nil {
		l.callEvents(cb, ev)
	}
}

// callEvents is call for a watch callback, without making a closure.
func (l *Loop) callEvents(cb func(aio.Events), ev aio.Events) {
	defer func() {
		if v := recover(); v != nil {
			l.panicked(v, debug.Stack())
		}
	}()
	cb(ev)
}
