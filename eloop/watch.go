package eloop

import (
	"fmt"
	"os"
	"runtime/debug"

	"github.com/gokernel/gokernel/aio"
)

// A WatchID names one registration made by Loop.Watch. It is also the
// registration's epoll token, given by the fd runtime's slot table
// (aio.Slots): a slot index and a generation, never a Go pointer, so an
// event still on its way for a watch that is gone (say for an fd closed
// and whose number was reused) does not match and is dropped.
type WatchID uint64

// watch is one registration of the Loop.
type watch struct {
	fd int
	cb func(aio.Events)
}

// Watch registers fd, which should be non-blocking, with the loop's
// poller for the events ev (see aio.Poller.Add), and calls cb on the loop
// goroutine with what happened each time the poller reports fd. Errors
// are those of aio.Poller.Add; on a stopped loop, net.ErrClosed.
func (l *Loop) Watch(fd int, ev aio.Events, cb func(ev aio.Events)) (WatchID, error) {
	l.mu.Lock()
	if l.state == stateClosed {
		l.mu.Unlock()
		return 0, fmt.Errorf("eloop: watch: %w", aio.Socket.ErrClosed())
	}
	id := WatchID(l.watches.Add(watch{fd: fd, cb: cb}))
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

// release frees id's slot and returns its fd; ok is false if id is not
// current.
func (l *Loop) release(id WatchID) (fd int, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.watches.Remove(uint64(id))
	if !ok {
		return -1, false
	}
	return w.fd, true
}

// dispatch calls the callback of the watch token names, if it is current.
func (l *Loop) dispatch(token uint64, ev aio.Events) {
	l.mu.Lock()
	w, ok := l.watches.Get(token)
	l.mu.Unlock()
	if ok {
		l.callEvents(w.cb, ev)
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
