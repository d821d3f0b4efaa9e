package unet

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/aio"
	"github.com/gokernel/gokernel/libgo"
	"github.com/gokernel/gokernel/sys"
)

// The kinds of operation, in the top byte of a completion's user data.
const (
	ukindWake   uint64 = 1 + iota // the poll of the dispatcher's eventfd
	ukindCancel                   // a cancellation: only its failures complete, and mean nothing
	ukindPoll                     // a socket's multishot poll
	ukindRecv                     // a TCP conn's multishot receive (recv_uring.go)
)

// The kinds of command.
const (
	cmdAdd      = iota // arm fd's poll
	cmdRemove          // cancel fd's operations, reply when reaped
	cmdRecv            // start fd's receive (recv_uring.go)
	cmdStopRecv        // stop it, reply when it has ended
)

// uringDrainLimit bounds how long a stopping dispatcher waits for the
// last completions of what it cancelled.
const uringDrainLimit = 5 * time.Second

// uringConfig sizes a dispatcher's ring (a variable: the tests make it
// tiny). Each socket has one poll in flight, so the completion queue is
// large; an overflow is kept by the kernel and flushed by Reap.
var uringConfig = aio.RingConfig{Entries: 256, CQEntries: 8192, SingleIssuer: true}

// A uringCmd is what a goroutine asks the dispatcher to do.
type uringCmd struct {
	kind  int
	fd    *netFD
	reply chan struct{} // remove: closed once fd has no operation in flight; stop: once the receive ended
}

// A uringOp is a socket's poll, as the dispatcher tracks it.
type uringOp struct {
	fd       *netFD
	ud       uint64
	armed    bool          // in flight: its last completion not reaped
	removing chan struct{} // closed when it has ended, for a remove
	fails    int           // consecutive ends with an error
	rearm    bool          // the poll was cancelled to be armed again with another mask

	// The receive (recv_uring.go).
	recvWant    bool          // wanted armed
	recvArmed   bool          // in flight
	recvCancel  bool          // its cancellation is queued
	recvOff     bool          // ended for good: the poll path
	recvStopped chan struct{} // a stop's reply, closed when it has ended
}

// uringDisp is a Stack's readiness dispatcher on io_uring (docs/aio.md,
// "unet on io_uring"): the same job as the epoll dispatcher in poll.go,
// waking the goroutines parked in each socket's PollDesc, with a
// multishot IORING_OP_POLL_ADD per socket in place of epoll_ctl and
// epoll_wait; every call path above it is unchanged.
//
// Its goroutine, locked to its thread, alone touches the ring
// (SINGLE_ISSUER|DEFER_TASKRUN where the kernel has them). Others queue a
// command (arm a socket's poll, remove it) and, unless a wake is on its
// way, write the eventfd that a multishot poll in the ring watches. A
// removal (a socket's Close) cancels the poll and answers once the poll's
// last completion has been reaped; only then is the fd closed, so no
// operation outlives its fd.
//
// A uringDisp is one run of the dispatcher: its ring lives as long as its
// goroutine (a SINGLE_ISSUER ring is its thread's), which netpoll starts
// with the first socket and stops after the last, as with epoll.
type uringDisp struct {
	lc *libgo.Libc
	k  sys.Kernel

	mu       sync.Mutex
	cmds     []uringCmd
	woken    bool  // the eventfd was written and the dispatcher has not taken the commands since
	stopping bool  // stop was asked
	err      error // the ring could not be set up
	efd      int
	one      [8]byte
	ready    chan struct{} // closed when the ring is set up, or err is set
	done     chan struct{} // closed when the goroutine has returned

	// The dispatcher goroutine's own.
	r          *aio.Ring
	ops        map[uint64]*uringOp
	unarmed    []*uringOp // to arm when a submission entry is free
	inflight   int        // operations whose last completion is not reaped (the wake poll too)
	wakeArmed  bool
	notified   int // completions of this turn that woke waiters
	cqes       []aio.CQE
	stats      *uringStats
	cancelNext []uint64 // cancellations that found no free entry

	// The receives (recv_uring.go): br is set before ready is closed and
	// closed after the last socket; bufMu serializes giving buffers back.
	br          *aio.BufRing
	bufMu       sync.Mutex
	noRecv      atomic.Bool
	unarmedRecv []*uringOp
	faulted     map[uint64]error // receives a test failed (uringRecvFault)
}

// uringStats are a netpoll's counters across its dispatchers, for tests:
// completions for no known operation (must stay 0) and operations left
// in flight when a dispatcher closed its ring (must stay 0).
type uringStats struct {
	mu        sync.Mutex
	stale     uint64
	leaked    uint64
	rings     uint64        // dispatchers started
	overflows uint64        // the rings' OverflowFlushes
	recycled  atomic.Uint64 // provided buffers given back by readers
	starved   uint64        // receives ended for want of buffers
}

// startUring starts a dispatcher on k; np.mu is held.
func startUring(k sys.Kernel, stats *uringStats) (*uringDisp, error) {
	lc := libgo.New(k)
	efd, err := lc.EventFD(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return nil, wrapSyscall("eventfd2", err)
	}
	d := &uringDisp{lc: lc, k: k, efd: efd, ops: map[uint64]*uringOp{}, stats: stats,
		ready: make(chan struct{}), done: make(chan struct{})}
	d.one[0] = 1 // eventfd's increment, 1 in host (little-endian) byte order
	stats.mu.Lock()
	stats.rings++
	stats.mu.Unlock()
	go d.run()
	return d, nil
}

// add queues fd's poll. It waits only for the ring's setup: a poll armed
// later still reports the socket's readiness at once, and a caller that
// tried and found EAGAIN waits in the PollDesc meanwhile.
func (d *uringDisp) add(fd *netFD) error {
	<-d.ready
	if d.err != nil {
		return d.err
	}
	d.send(uringCmd{kind: cmdAdd, fd: fd})
	return nil
}

// remove cancels fd's poll and returns once its last completion has been
// reaped.
func (d *uringDisp) remove(fd *netFD) {
	reply := make(chan struct{})
	d.send(uringCmd{kind: cmdRemove, fd: fd, reply: reply})
	<-reply
}

// stop tells the dispatcher to return once nothing is in flight, and
// waits for it.
func (d *uringDisp) stop() {
	d.mu.Lock()
	d.stopping = true
	d.mu.Unlock()
	d.wake()
	<-d.done
}

// send queues c and wakes the dispatcher.
func (d *uringDisp) send(c uringCmd) {
	d.mu.Lock()
	d.cmds = append(d.cmds, c)
	d.mu.Unlock()
	d.wake()
}

// wake writes the eventfd unless a wake is already on its way.
func (d *uringDisp) wake() {
	d.mu.Lock()
	if d.woken {
		d.mu.Unlock()
		return
	}
	d.woken = true
	d.mu.Unlock()
	// The counter cannot reach its maximum (EAGAIN) in practice, so a
	// failure is transient (an injected fault, EINTR): try again, since a
	// lost wake would leave the commands waiting.
	for i := 0; ; i++ {
		if _, err := d.lc.Write(d.efd, d.one[:]); err == nil || i == 1000 {
			return
		}
		if i > 10 {
			time.Sleep(time.Millisecond)
		}
	}
}

// take returns the queued commands and whether stop was asked.
func (d *uringDisp) take(buf []uringCmd) ([]uringCmd, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	buf = append(buf[:0], d.cmds...)
	clear(d.cmds)
	d.cmds = d.cmds[:0]
	d.woken = false
	return buf, d.stopping
}

// run is the dispatcher goroutine.
func (d *uringDisp) run() {
	defer close(d.done)
	runtime.LockOSThread() // SINGLE_ISSUER: the ring is this thread's
	defer runtime.UnlockOSThread()
	r, err := aio.NewRing(d.k, uringConfig)
	if err != nil {
		d.err = err
		d.lc.Close(d.efd)
		close(d.ready)
		return
	}
	d.r, d.cqes, d.faulted = r, make([]aio.CQE, 256), map[uint64]error{}
	d.setupRecv()
	close(d.ready)
	defer d.shutdown()
	var cmds []uringCmd
	for {
		var stopping bool
		cmds, stopping = d.take(cmds)
		for _, c := range cmds {
			d.do(c)
		}
		clear(cmds)
		if stopping && len(d.ops) == 0 {
			return
		}
		d.armPending()
		if d.notified > 0 {
			// As the epoll dispatcher's Waiter does (YieldAfterEvents):
			// the goroutines just woken sit in this P's run queue, and the
			// wait below keeps the P until sysmon takes it back; let them
			// run first. Measured: 1.3x the requests/s of not yielding,
			// 0.9x the CPU per request (docs/aio.md).
			d.notified = 0
			runtime.Gosched()
		}
		if _, err := r.SubmitAndWait(1); err != nil && !aio.RingBusy(err) {
			// A failing io_uring_enter (it should not) would spin: back off.
			time.Sleep(time.Millisecond)
		}
		d.reap()
	}
}

// do runs one command.
func (d *uringDisp) do(c uringCmd) {
	ud := ukindPoll<<56 | c.fd.PD.Token&(1<<56-1)
	if c.kind == cmdAdd {
		op := &uringOp{fd: c.fd, ud: ud}
		d.ops[ud] = op
		d.unarmed = append(d.unarmed, op)
		return
	}
	op := d.ops[ud]
	if op == nil { // not added (its add failed)
		if c.reply != nil {
			close(c.reply)
		}
		return
	}
	if c.kind == cmdRecv || c.kind == cmdStopRecv {
		d.doRecv(c, op)
		return
	}
	op.removing = c.reply
	if op.recvStopped != nil { // a stop in progress: the remove ends it
		close(op.recvStopped)
		op.recvStopped = nil
	}
	if !op.armed && !op.recvArmed {
		d.end(op)
		return
	}
	if op.armed {
		d.cancel(ud)
	}
	if op.recvArmed && !op.recvCancel {
		op.recvCancel = true
		d.cancel(recvUD(op))
	}
}

// end forgets op, which has nothing in flight, and answers its remove.
func (d *uringDisp) end(op *uringOp) {
	delete(d.ops, op.ud)
	close(op.removing)
}

// sqe returns a free submission entry, submitting the queued ones first
// when the queue is full; nil if the kernel takes none now.
func (d *uringDisp) sqe() *aio.SQE {
	if s := d.r.GetSQE(); s != nil {
		return s
	}
	if _, err := d.r.Submit(); err != nil {
		return nil
	}
	return d.r.GetSQE()
}

// cancel queues the cancellation of the operation with user data ud; its
// own completion is skipped when it succeeds.
func (d *uringDisp) cancel(ud uint64) {
	s := d.sqe()
	if s == nil {
		d.cancelNext = append(d.cancelNext, ud)
		return
	}
	s.PrepCancel(ud, aio.CancelAll)
	s.UserData = ukindCancel << 56
	s.Flags |= aio.SQECQESkipSuccess
}

// armPending arms the wake poll and the polls waiting for an entry, and
// queues the cancellations that found none.
func (d *uringDisp) armPending() {
	if !d.wakeArmed {
		s := d.sqe()
		if s == nil {
			return
		}
		s.PrepPollAdd(d.efd, aio.PollMask(aio.Read), true)
		s.UserData = ukindWake << 56
		d.wakeArmed = true
		d.inflight++
	}
	for len(d.cancelNext) > 0 {
		ud := d.cancelNext[0]
		s := d.sqe()
		if s == nil {
			return
		}
		d.cancelNext = d.cancelNext[1:]
		s.PrepCancel(ud, aio.CancelAll)
		s.UserData = ukindCancel << 56
		s.Flags |= aio.SQECQESkipSuccess
	}
	for len(d.unarmed) > 0 {
		op := d.unarmed[0]
		if op.removing != nil || op.armed || d.ops[op.ud] != op {
			d.unarmed = d.unarmed[1:] // removed before it was armed, or armed already
			continue
		}
		s := d.sqe()
		if s == nil {
			return
		}
		d.unarmed = d.unarmed[1:]
		s.PrepPollAdd(op.fd.Sysfd, pollMaskOf(op), true)
		s.UserData = op.ud
		op.armed = true
		d.inflight++
	}
	d.armRecvs()
}

// reap handles every completion in the queue.
func (d *uringDisp) reap() {
	for {
		n, err := d.r.Reap(d.cqes)
		if err != nil {
			return
		}
		for _, c := range d.cqes[:n] {
			d.complete(c)
		}
		if n < len(d.cqes) {
			return
		}
	}
}

// complete handles one completion.
func (d *uringDisp) complete(c aio.CQE) {
	switch c.UserData >> 56 {
	case ukindWake:
		if !c.More() {
			d.wakeArmed = false
			d.inflight--
		}
		return
	case ukindCancel:
		return // ENOENT or EALREADY: the poll has ended or is ending
	case ukindRecv:
		if op := d.ops[ukindPoll<<56|c.UserData&(1<<56-1)]; op != nil && op.recvArmed {
			d.completeRecv(c, op)
			return
		}
		d.stats.mu.Lock()
		d.stats.stale++
		d.stats.mu.Unlock()
		return
	}
	op := d.ops[c.UserData]
	if op == nil {
		d.stats.mu.Lock()
		d.stats.stale++
		d.stats.mu.Unlock()
		return
	}
	if c.Res >= 0 {
		// A poll completion carries the wake-up's events (EPOLLIN for
		// data arriving), not the socket's whole readiness as epoll's
		// do; the waiters of both directions try again, as every event
		// of an edge-triggered epoll registration lets them (a write that
		// failed with a spurious EAGAIN waits for any event).
		ev := aio.PollEvents(c.Res)
		if ev&(aio.RDHUP|aio.HUP|aio.Error) != 0 {
			op.fd.hup.Store(true) // before rseq: see netFD.drainedAt
		}
		op.fd.rseq.Add(1)
		op.fd.PD.Notify(ev | aio.Read | aio.Write)
		d.notified++
		op.fails = 0
	}
	if c.More() {
		return
	}
	op.armed = false
	d.inflight--
	if op.removing != nil {
		if !op.recvArmed {
			d.end(op)
		}
		return
	}
	if op.rearm {
		// Cancelled to watch another mask (recv_uring.go): arm it again.
		op.rearm = false
		d.unarmed = append(d.unarmed, op)
		return
	}
	// The poll ended on its own: the completion queue had no room for
	// it, or it failed. Let the waiters try their calls again (they find
	// the socket's real state) and poll again, unless it keeps failing.
	if c.Res < 0 {
		op.fd.PD.Notify(aio.Read | aio.Write | aio.Error)
		if op.fails++; op.fails > 3 {
			return // stays unarmed until removed; its calls see the error themselves
		}
	}
	d.unarmed = append(d.unarmed, op)
}

// shutdown cancels what is still in flight, reaps it, and closes the ring
// and the eventfd.
func (d *uringDisp) shutdown() {
	if d.inflight > 0 {
		if s := d.sqe(); s != nil {
			s.PrepCancel(0, aio.CancelAny|aio.CancelAll)
			s.UserData = ukindCancel << 56
			s.Flags |= aio.SQECQESkipSuccess
		}
	}
	deadline := time.Now().Add(uringDrainLimit)
	for d.inflight > 0 && time.Now().Before(deadline) {
		if _, err := d.r.SubmitAndWaitTimeout(1, 100*time.Millisecond); err != nil && !aio.RingBusy(err) {
			break
		}
		d.reap()
	}
	d.stats.mu.Lock()
	d.stats.leaked += uint64(d.inflight)
	d.stats.overflows += d.r.OverflowFlushes()
	d.stats.mu.Unlock()
	if d.br != nil {
		d.br.Close()
	}
	d.r.Close()
	d.lc.Close(d.efd)
}
