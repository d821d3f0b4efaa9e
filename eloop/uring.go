package eloop

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/gokernel/gokernel/aio"
)

// This file is the Loop's io_uring side. The loop goroutine, locked to
// its thread, owns a Ring set up with SINGLE_ISSUER|DEFER_TASKRUN where
// the kernel has them; each turn is one io_uring_enter that submits what
// the turn queued and waits for a completion (or the next timer). The
// Poller is still there for Watch: a poll of its epoll fd sits in the
// ring, and when it completes the loop takes the Poller's events without
// waiting, dispatches them, and polls again. Wake (Post, Stop, timers)
// writes the Poller's eventfd, which makes the epoll fd readable and so
// completes that poll.

// ringConfig sizes a loop's ring (a variable: the tests make it tiny).
var ringConfig = aio.RingConfig{Entries: 1024, CQEntries: 8192, SingleIssuer: true}

// EnvUring is the environment variable that turns the loop ring's
// optional features on or off, for measuring each against the defaults
// (docs/aio.md, "What was tried"): a comma-separated list of feature
// names, each turned on, or off with a leading "-":
//
//   - regring: the ring fd registered (aio.RingConfig.RegisterRing);
//   - nosqarray: no submission queue array (RingConfig.NoSQArray);
//   - sqpoll: a kernel thread takes the submissions (RingConfig.SQPoll,
//     idle after 50 ms), with COOP_TASKRUN instead of DEFER_TASKRUN;
//   - pollfirst: a connection's receive is armed with
//     IORING_RECVSEND_POLL_FIRST (wait for data before trying);
//   - yield (on by default): the loop passes through Go's scheduler
//     (runtime.Gosched) once every 2 ms of turns. A locked loop that
//     only ever enters the kernel is otherwise never rescheduled, so
//     Go's sysmon finds its P's schedule count stale for over 10 ms on
//     every tick: it preempts the loop and takes its P back from the
//     system call (handoffp), and having had that work it keeps waking
//     every 20 µs. With the yield sysmon fell from 8% of one loop's
//     samples to under 1%, and CPU per message by 11–14% (docs/aio.md).
//
// An unknown name makes the loop's Run fail.
const EnvUring = "GOKERNEL_URING"

// uringTune is what EnvUring can change.
type uringTune struct {
	regring, nosqarray, sqpoll, pollfirst, yield bool
}

// uringDefaults are the features a loop's ring has when EnvUring does
// not say otherwise.
var uringDefaults = uringTune{yield: true}

// parseUringTune applies s, EnvUring's value, to the defaults.
func parseUringTune(s string) (uringTune, error) {
	t := uringDefaults
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		name, off := strings.CutPrefix(f, "-")
		on := !off
		switch strings.TrimPrefix(name, "+") {
		case "regring":
			t.regring = on
		case "nosqarray":
			t.nosqarray = on
		case "sqpoll":
			t.sqpoll = on
		case "pollfirst":
			t.pollfirst = on
		case "yield":
			t.yield = on
		default:
			return t, fmt.Errorf("eloop: %s=%q: unknown feature %q (want regring, nosqarray, sqpoll, pollfirst or yield)", EnvUring, s, name)
		}
	}
	return t, nil
}

// config returns the ring configuration with t's features.
func (t uringTune) config(cfg aio.RingConfig) aio.RingConfig {
	cfg.RegisterRing, cfg.NoSQArray, cfg.SQPoll = t.regring, t.nosqarray, t.sqpoll
	if t.sqpoll {
		cfg.SQThreadIdle = 50 * time.Millisecond
	}
	return cfg
}

// yieldEvery is how often a loop with the yield feature passes through
// Go's scheduler: well under sysmon's 10 ms, and a Gosched of a locked
// goroutine (two futex calls) every 2 ms is lost in a turn's cost.
const yieldEvery = 2 * time.Millisecond

const (
	// drainLimit bounds how long a stopping loop waits for its
	// cancelled operations' last completions.
	drainLimit = 5 * time.Second
)

// The kinds of operation, in the top byte of a completion's user data.
const (
	kindPoll   uint8 = 1 + iota // the poll of the Poller's epoll fd
	kindCancel                  // a cancellation: its own completion means nothing
	kindAccept                  // a server loop's multishot accept
	kindRecv                    // a connection's multishot receive
	kindSend                    // a connection's send
)

// userData makes an operation's user data: its kind in the top byte, then
// 24 bits of the owner's slot generation and its 32-bit slot index
// (aio.Slots), so that a completion finds its connection and a stale one
// would be noticed.
func userData(kind uint8, token uint64) uint64 {
	return uint64(kind)<<56 | (token>>32&0xffffff)<<32 | token&0xffffffff
}

// uloop is a Loop's io_uring state, used only on the loop goroutine.
type uloop struct {
	r         *aio.Ring
	cqes      []aio.CQE
	ops       int    // operations submitted whose last completion has not been reaped
	pollArmed bool   // the poll of the epoll fd is in flight
	draining  bool   // the loop is stopping: completions are only settled
	overflows uint64 // the ring's OverflowFlushes, once it is closed
	tune      uringTune

	// The server loop on this loop, if any, sets these.
	complete func(c aio.CQE) // a completion of kindAccept, kindRecv or kindSend
	turnEnd  func() bool     // before each submit: queue the turn's sends and receives; true: more to do at once
	release  func()          // before the ring closes: free what is registered with it
}

// sqe returns a free submission entry, submitting the queued ones first
// when the queue is full; nil if the kernel takes none now (the caller
// tries again next turn).
func (u *uloop) sqe() *aio.SQE {
	if u.r == nil {
		return nil
	}
	if s := u.r.GetSQE(); s != nil {
		return s
	}
	if _, err := u.r.Submit(); err != nil {
		return nil
	}
	return u.r.GetSQE()
}

// cancel queues the cancellation of the operation with user data ud (or,
// with aio.CancelFD in flags, of those on fd). Its own completion is
// skipped when it succeeds and ignored when not (the operation had ended:
// ENOENT, or is ending: EALREADY). It reports false if no entry was free.
func (u *uloop) cancel(ud uint64, fd int, flags uint32) bool {
	s := u.sqe()
	if s == nil {
		return false
	}
	if flags&aio.CancelFD != 0 {
		s.PrepCancelFD(fd, flags)
	} else {
		s.PrepCancel(ud, flags)
	}
	s.UserData = uint64(kindCancel) << 56
	s.Flags |= aio.SQECQESkipSuccess
	return true
}

// loopUring is loop on io_uring. If the ring cannot be set up, it says
// why in Backend and runs loop.
func (l *Loop) loopUring(ctx context.Context) error {
	runtime.LockOSThread() // SINGLE_ISSUER: the ring is this thread's
	defer runtime.UnlockOSThread()
	tune, err := parseUringTune(os.Getenv(EnvUring))
	if err != nil {
		return err
	}
	r, err := aio.NewRing(l.k, tune.config(ringConfig))
	if err != nil {
		l.mu.Lock()
		l.choice = aio.Choice{Backend: aio.Epoll, Reason: "io_uring chosen (" + l.choice.Reason + "), but " + err.Error()}
		l.mu.Unlock()
		return l.loop(ctx)
	}
	u := &l.u
	u.r, u.cqes, u.tune = r, make([]aio.CQE, 2*l.opts.Events), tune
	events := make([]aio.Event, l.opts.Events)
	defer l.closeRing(events)
	var batch []func()
	lastYield := time.Now()
	for {
		if l.stopReq.Load() {
			return nil
		}
		if tune.yield {
			if now := time.Now(); now.Sub(lastYield) > yieldEvery {
				runtime.Gosched()
				lastYield = now
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if !u.pollArmed {
			u.armPoll(l.p.Fd())
		}
		more := u.turnEnd != nil && u.turnEnd()
		timeout := l.waitTimeout()
		if more {
			timeout = 0
		}
		if _, err := r.SubmitAndWaitTimeout(1, timeout); err != nil && !aio.RingBusy(err) {
			return err // busy: reap below, submit again next turn
		}
		if err := l.reapRing(events); err != nil {
			return err
		}
		l.runTimers()
		batch = l.takeTasks(batch[:0], l.opts.MaxTasksPerTurn)
		for i, f := range batch {
			l.call(f)
			batch[i] = nil
		}
	}
}

// armPoll queues a one-shot poll of the epoll fd: it completes when a
// watched fd is ready or a Wake came.
func (u *uloop) armPoll(epfd int) {
	s := u.sqe()
	if s == nil {
		return
	}
	s.PrepPollAdd(epfd, pollIn, false)
	s.UserData = uint64(kindPoll) << 56
	u.pollArmed = true
	u.ops++
}

// pollIn is POLLIN.
const pollIn = 0x1

// reapRing handles every completion in the queue; after the poll of the
// epoll fd completed, it takes the Poller's events without waiting and
// dispatches them.
func (l *Loop) reapRing(events []aio.Event) error {
	u := &l.u
	polled := false
	for {
		n, err := u.r.Reap(u.cqes)
		if err != nil {
			return err
		}
		for _, c := range u.cqes[:n] {
			switch uint8(c.UserData >> 56) {
			case kindPoll:
				u.pollArmed = false
				u.ops--
				polled = true
			case kindCancel:
			default:
				if u.complete != nil {
					u.complete(c)
				}
			}
		}
		if n == 0 {
			break // (after an overflow, Reap has flushed what was held)
		}
	}
	if !polled || u.draining {
		return nil
	}
	n, err := l.p.Wait(events, 0)
	if err != nil {
		return err
	}
	for _, ev := range events[:n] {
		l.dispatch(ev.Token, ev.Events)
	}
	return nil
}

// closeRing cancels every operation in flight, reaps their last
// completions (the server's connections settle as theirs arrive), frees
// what the server registered, and closes the ring.
func (l *Loop) closeRing(events []aio.Event) {
	u := &l.u
	u.draining = true
	if u.ops > 0 {
		u.cancel(0, -1, aio.CancelAny|aio.CancelAll)
	}
	deadline := time.Now().Add(drainLimit)
	for u.ops > 0 && time.Now().Before(deadline) {
		if _, err := u.r.SubmitAndWaitTimeout(1, 100*time.Millisecond); err != nil && !aio.RingBusy(err) {
			break
		}
		if l.reapRing(events) != nil {
			break
		}
	}
	if u.release != nil {
		u.release()
	}
	u.overflows = u.r.OverflowFlushes()
	u.r.Close()
	u.r = nil
}
