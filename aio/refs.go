package aio

import "sync/atomic"

// refs guards the fds of a Poller the way internal/poll's fdMutex guards
// an FD, reduced to what a Poller needs: every operation holds a
// reference while it uses the fd numbers, close marks the object closed so
// that no new reference is given, and the fds are closed only after the
// last reference is dropped. No call can therefore touch an fd number that
// has been closed and given to someone else.
//
// The state is one atomic word, the closed bit plus the count, so taking
// and dropping a reference neither locks nor allocates.
type refs struct {
	state   atomic.Uint64
	drained chan struct{} // closed when the object is closed and the count is zero
}

// refClosed is the closed bit of refs.state; the rest is the count.
const refClosed = 1 << 63

func newRefs() refs { return refs{drained: make(chan struct{})} }

// incref takes a reference, or reports false if the object is closed.
func (r *refs) incref() bool {
	for {
		s := r.state.Load()
		if s&refClosed != 0 {
			return false
		}
		if r.state.CompareAndSwap(s, s+1) {
			return true
		}
	}
}

// decref drops a reference taken by incref. The last one dropped after
// close lets wait return.
func (r *refs) decref() {
	if r.state.Add(^uint64(0)) == refClosed {
		close(r.drained)
	}
}

// close marks the object closed, or reports false if it already was. No
// reference can be taken after it; wait waits for those already held.
func (r *refs) close() bool {
	for {
		s := r.state.Load()
		if s&refClosed != 0 {
			return false
		}
		if r.state.CompareAndSwap(s, s|refClosed) {
			if s == 0 {
				close(r.drained) // no holder is left to do it
			}
			return true
		}
	}
}

// closed reports whether close has been called.
func (r *refs) closed() bool { return r.state.Load()&refClosed != 0 }

// wait blocks, after close, until every reference has been dropped.
func (r *refs) wait() { <-r.drained }
