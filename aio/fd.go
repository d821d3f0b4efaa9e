package aio

import (
	"io/fs"
	"net"
	"sync"
	"sync/atomic"
)

// This file is the fd half of gokernel's fd runtime (internal/poll.FD's
// counterpart; the readiness half is PollDesc and Slots): one reference
// count with a closed bit, one pair of read and write locks, one close
// that wakes every waiter and lets the last reference close the fd, and
// the one place that says which error a closed object returns.

// Kind says which closed error an object of the fd runtime returns, the
// one place where that is decided:
//
//   - Socket: net.ErrClosed, as package net does (unet's conns and
//     listeners, eloop's loops, servers and conns);
//   - File: fs.ErrClosed, as package os does (ufs's files and FS, ufs.Async,
//     aio's Poller).
//
// As in the standard library they are distinct values: fs.ErrClosed is
// os.ErrClosed, net.ErrClosed is not.
type Kind uint8

// The kinds of object.
const (
	File Kind = iota
	Socket
)

// ErrClosed returns the error of an operation on a closed object of kind k.
func (k Kind) ErrClosed() error {
	if k == Socket {
		return net.ErrClosed
	}
	return fs.ErrClosed
}

// Refs guards an fd the way internal/poll's fdMutex does, reduced to its
// reference count: every operation holds a reference while it uses the fd
// number, Close marks the object closed so that no new reference is given,
// and the fd is closed only after the last reference is dropped, so no
// call can touch an fd number that was closed and given to someone else.
//
// The state is one atomic word, the closed bit plus the count, so taking
// and dropping a reference neither locks nor allocates. The zero Refs is
// open; Wait needs the channel InitWait makes.
type Refs struct {
	state   atomic.Uint64
	drained chan struct{} // closed when closed and the count is zero; nil: nobody waits
}

// refClosed is the closed bit of Refs.state; the rest is the count.
const refClosed = 1 << 63

// InitWait prepares r for Wait; call it before r is shared.
func (r *Refs) InitWait() { r.drained = make(chan struct{}) }

// Incref takes a reference, or reports false if the object is closed.
func (r *Refs) Incref() bool {
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

// Decref drops a reference taken by Incref. It reports whether it was the
// last one of a closed object: then the caller may release the fd (Wait
// returns as well).
func (r *Refs) Decref() (last bool) {
	if r.state.Add(^uint64(0)) == refClosed {
		if r.drained != nil {
			close(r.drained)
		}
		return true
	}
	return false
}

// Close marks the object closed; ok is false if it already was. No
// reference can be taken after it. idle reports that none was held: the
// caller releases the fd now; otherwise the last Decref reports it.
func (r *Refs) Close() (ok, idle bool) {
	for {
		s := r.state.Load()
		if s&refClosed != 0 {
			return false, false
		}
		if r.state.CompareAndSwap(s, s|refClosed) {
			if s == 0 && r.drained != nil {
				close(r.drained) // no holder is left to do it
			}
			return true, s == 0
		}
	}
}

// Closed reports whether Close has been called.
func (r *Refs) Closed() bool { return r.state.Load()&refClosed != 0 }

// Wait blocks, after Close, until every reference has been dropped. It
// needs InitWait.
func (r *Refs) Wait() { <-r.drained }

// An FD is one fd owned by a Go object, as internal/poll.FD is: its
// reference count, its read and write locks (so concurrent reads, or
// writes, do not interleave), and, for an fd waited on through a poller,
// its PollDesc. Lock order: the read or write lock, then a deadline's.
//
// Close marks the FD closed (later calls fail with Kind's closed error),
// wakes every goroutine waiting in its PollDesc, waits for the calls in
// progress, and only then closes the fd: no call can reach an fd number
// that was closed and reused.
type FD struct {
	Sysfd int       // the fd, on the kernel of the object that owns it
	Kind  Kind      // which closed error the FD returns
	PD    *PollDesc // readiness, or nil for an fd that is never waited on (a file)

	refs Refs
	rmu  sync.Mutex
	wmu  sync.Mutex
}

// Init prepares fd for use; call it once, before fd is shared.
func (fd *FD) Init(sysfd int, kind Kind, pd *PollDesc) {
	fd.Sysfd, fd.Kind, fd.PD = sysfd, kind, pd
	fd.refs.InitWait()
}

// Incref takes a reference for a call that needs neither lock.
func (fd *FD) Incref() error {
	if !fd.refs.Incref() {
		return fd.Kind.ErrClosed()
	}
	return nil
}

// Decref drops a reference taken by Incref.
func (fd *FD) Decref() { fd.refs.Decref() }

// ReadLock takes a reference and the read lock.
func (fd *FD) ReadLock() error {
	if err := fd.Incref(); err != nil {
		return err
	}
	fd.rmu.Lock()
	return nil
}

// ReadUnlock drops what ReadLock took.
func (fd *FD) ReadUnlock() { fd.rmu.Unlock(); fd.refs.Decref() }

// WriteLock takes a reference and the write lock.
func (fd *FD) WriteLock() error {
	if err := fd.Incref(); err != nil {
		return err
	}
	fd.wmu.Lock()
	return nil
}

// WriteUnlock drops what WriteLock took.
func (fd *FD) WriteUnlock() { fd.wmu.Unlock(); fd.refs.Decref() }

// Closed reports whether Close has begun.
func (fd *FD) Closed() bool { return fd.refs.Closed() }

// CloseNoWait is Close for a caller that must not block, such as an event
// loop's goroutine: it marks fd closed and wakes its waiters as Close
// does, and reports idle when no call is in progress: the caller then
// releases the fd at once. Otherwise the caller calls WaitClose, where it
// may block, before it releases the fd. A second close returns Kind's
// closed error.
func (fd *FD) CloseNoWait() (idle bool, err error) {
	ok, idle := fd.refs.Close()
	if !ok {
		return false, fd.Kind.ErrClosed()
	}
	if fd.PD != nil {
		fd.PD.evict()
	}
	return idle, nil
}

// WaitClose waits, after CloseNoWait, until the calls in progress are
// done.
func (fd *FD) WaitClose() { fd.refs.Wait() }

// Close marks fd closed, wakes its waiters, waits for the calls in
// progress, then calls release, which closes Sysfd (and whatever else
// goes with it) and returns its error. A second Close returns Kind's
// closed error and does not call release.
func (fd *FD) Close(release func() error) error {
	if _, err := fd.CloseNoWait(); err != nil {
		return err
	}
	fd.refs.Wait()
	return release()
}
