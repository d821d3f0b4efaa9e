package eloop

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"github.com/gokernel/gokernel/aio"
	"github.com/gokernel/gokernel/sys"
)

// Defaults for the zero fields of Options.
const (
	defaultMaxTasksPerTurn = 256
	defaultWorkers         = 4
	defaultQueueSize       = 64
	defaultEvents          = 128
)

// Options configures a Loop. The zero value works: every zero field takes
// the default named in its comment.
type Options struct {
	// MaxTasksPerTurn caps the posted tasks (and worker results) run in
	// one turn of the loop, so that a flood of Posts does not starve I/O
	// and timers, as gnet's MaxAsyncTasksAtOneTime does. Default 256.
	MaxTasksPerTurn int
	// Workers is the number of goroutines that run Submit's work.
	// Default 4.
	Workers int
	// QueueSize is how many submitted works may wait for a worker; when
	// the queue is full, Submit blocks. Default 64.
	QueueSize int
	// Events is how many poller events one Wait takes. Default 128.
	Events int
	// OnPanic, if not nil, is called on the loop goroutine with the value
	// and stack of a panic recovered from a callback (a posted task, a
	// timer, a watch callback, a Submit done); the loop then goes on. If
	// it is nil, the loop goes on as well, and Run returns the first
	// such panic as a *PanicError when it ends.
	OnPanic func(v any, stack []byte)
	// Backend picks how the loop waits: aio.Epoll waits in its Poller,
	// aio.Uring in an io_uring Ring (which also watches the Poller, so
	// Watch works the same), where the kernel has one. 0 follows
	// GOKERNEL_AIO (aio.Choose): io_uring on the host, epoll elsewhere.
	// Backend says what was chosen and why.
	Backend aio.Backend
}

// A PanicError is a panic recovered from a callback when Options.OnPanic
// is nil; Run returns the first one.
type PanicError struct {
	Value any    // the value passed to panic
	Stack []byte // the goroutine's stack where it was recovered
}

// Error describes the panic.
func (e *PanicError) Error() string { return fmt.Sprintf("eloop: callback panicked: %v", e.Value) }

// Loop states.
const (
	stateNew = iota
	stateRunning
	stateClosed
)

// A Loop is an event loop on one kernel. Run runs it on the calling
// goroutine; every callback (posted tasks, timers, watch callbacks,
// Submit's done) runs there, one at a time, so callbacks need no locks
// among themselves. Every other method may be called from any goroutine,
// including from callbacks.
//
// Where the kernels differ:
//   - Timers wait with the poller's Wait timeout (LKL has no timerfd); on
//     LKL a timed wait lasts until the next 10 ms tick, so timers fire up
//     to 10 ms late there.
//   - A Loop on LKL must be stopped before the kernel halts: Halt cannot
//     wake a Wait blocked in LKL's epoll_pwait.
type Loop struct {
	opts Options
	k    sys.Kernel
	p    *aio.Poller

	stopReq atomic.Bool // set by Stop

	mu       sync.Mutex
	state    int      // stateNew, stateRunning, stateClosed; guarded by mu
	tasks    []func() // posted tasks in order; guarded by mu
	timers   timerHeap
	timerSeq uint64
	watches  aio.Slots[watch] // guarded by mu
	firstPan *PanicError      // guarded by mu
	onStop   []func()         // OnStop's hooks, in order; guarded by mu

	pool pool

	choice aio.Choice // the backend; guarded by mu once Run started
	u      uloop      // the io_uring side; loop goroutine only
}

// New makes a Loop on kernel k, with its poller; nil k means the process
// default kernel. The loop does nothing until Run, and Run releases the
// poller when it ends: to drop a Loop that was never run, call Stop, then
// Run, which returns at once. Errors are those of aio.New.
func New(k sys.Kernel, opts Options) (*Loop, error) {
	if opts.MaxTasksPerTurn <= 0 {
		opts.MaxTasksPerTurn = defaultMaxTasksPerTurn
	}
	if opts.Workers <= 0 {
		opts.Workers = defaultWorkers
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = defaultQueueSize
	}
	if opts.Events <= 0 {
		opts.Events = defaultEvents
	}
	if k == nil {
		k = sys.Default()
	}
	p, err := aio.New(k)
	if err != nil {
		return nil, err
	}
	l := &Loop{opts: opts, k: k, p: p}
	if opts.Backend == 0 {
		l.choice = aio.Choose(k)
	} else {
		l.choice = aio.Decide(k, opts.Backend.String())
	}
	l.pool.init(opts.QueueSize)
	return l, nil
}

// Backend returns the backend the loop runs on and why: what New chose,
// or, once Run has started, what Run got (epoll, with the reason, when
// setting up io_uring failed).
func (l *Loop) Backend() aio.Choice {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.choice
}

// Kernel returns the kernel the Loop's poller and calls run on.
func (l *Loop) Kernel() sys.Kernel { return l.k }

// Run runs the loop on the calling goroutine until Stop is called or ctx
// is done, then shuts down: later Posts and Submits fail with
// net.ErrClosed, the OnStop hooks run, work queued in the pool is
// cancelled and work running there is waited for (their done callbacks
// run before Run returns), tasks posted before the end run, pending
// timers are dropped, and the poller is closed. Run returns nil after Stop, ctx.Err() after ctx is
// done, or the poller's error if waiting failed; see Options.OnPanic for
// panics. A Loop runs once: a second Run returns an error satisfying
// errors.Is(err, net.ErrClosed).
func (l *Loop) Run(ctx context.Context) (err error) {
	l.mu.Lock()
	if l.state != stateNew {
		l.mu.Unlock()
		return fmt.Errorf("eloop: Run called twice: %w", aio.Socket.ErrClosed())
	}
	l.state = stateRunning
	l.mu.Unlock()

	woke := make(chan struct{})
	stopWake := context.AfterFunc(ctx, func() {
		l.p.Wake()
		close(woke)
	})
	l.pool.start(l, l.opts.Workers)
	if l.Backend().Backend == aio.Uring {
		err = l.loopUring(ctx)
	} else {
		err = l.loop(ctx)
	}
	if !stopWake() {
		<-woke // the wake has started: no goroutine outlives Run
	}
	l.shutdown()
	l.mu.Lock()
	if l.firstPan != nil {
		err = errors.Join(err, l.firstPan)
	}
	l.mu.Unlock()
	return err
}

// loop runs turns until Stop, ctx's end or a poller failure.
func (l *Loop) loop(ctx context.Context) error {
	events := make([]aio.Event, l.opts.Events)
	var batch []func()
	w := l.p.NewWaiter() // polls again before it blocks (host only; see aio.Waiter)
	for {
		if l.stopReq.Load() {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := w.Wait(events, l.waitTimeout())
		if err != nil {
			return err
		}
		for _, ev := range events[:n] {
			l.dispatch(ev.Token, ev.Events)
		}
		l.runTimers()
		batch = l.takeTasks(batch[:0], l.opts.MaxTasksPerTurn)
		for i, f := range batch {
			l.call(f)
			batch[i] = nil
		}
	}
}

// shutdown closes the loop to new work, runs the OnStop hooks, settles
// the pool, runs the tasks left, and closes the poller.
func (l *Loop) shutdown() {
	l.mu.Lock()
	l.state = stateClosed
	for _, t := range l.timers {
		t.index = -1
	}
	l.timers = nil
	hooks := l.onStop
	l.onStop = nil
	l.mu.Unlock()
	for _, f := range hooks {
		l.call(f)
	}
	l.pool.stop(l)
	for {
		batch := l.takeTasks(nil, -1)
		if len(batch) == 0 {
			break
		}
		for _, f := range batch {
			l.call(f)
		}
	}
	l.p.Close()
}

// OnStop registers f to run on the loop goroutine when the loop shuts
// down (see Run): after its last turn, once Posts and Watches fail, and
// before the pool settles and the poller closes, so f may still
// Unwatch its fds, call callbacks, and finish what pool work in progress
// may be waiting for. Hooks run in the order they were registered, once.
// It is for what lives as long as the loop, such as ufs's io_uring. On a
// stopped loop OnStop returns an error satisfying
// errors.Is(err, net.ErrClosed) and f never runs.
func (l *Loop) OnStop(f func()) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.state == stateClosed {
		return fmt.Errorf("eloop: on stop: %w", aio.Socket.ErrClosed())
	}
	l.onStop = append(l.onStop, f)
	return nil
}

// Stop makes Run return nil: the loop finishes its turn and shuts down
// as Run describes. It returns at once, without waiting for Run, and may
// be called any number of times, before Run as well.
func (l *Loop) Stop() {
	l.stopReq.Store(true)
	l.p.Wake()
}

// Post queues f to run on the loop goroutine; tasks run in the order they
// were posted. It may be called from any goroutine, before Run too. Once
// the loop has stopped, Post returns an error satisfying
// errors.Is(err, net.ErrClosed) and f never runs.
func (l *Loop) Post(f func()) error {
	l.mu.Lock()
	if l.state == stateClosed {
		l.mu.Unlock()
		return fmt.Errorf("eloop: post: %w", aio.Socket.ErrClosed())
	}
	l.tasks = append(l.tasks, f)
	l.mu.Unlock()
	l.p.Wake()
	return nil
}

// postInternal queues f even while the loop shuts down: shutdown runs the
// queue until it is empty.
func (l *Loop) postInternal(f func()) {
	l.mu.Lock()
	l.tasks = append(l.tasks, f)
	l.mu.Unlock()
	l.p.Wake()
}

// takeTasks moves up to max queued tasks (all of them if max < 0) to
// batch.
func (l *Loop) takeTasks(batch []func(), max int) []func() {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(l.tasks)
	if max >= 0 && n > max {
		n = max
	}
	batch = append(batch, l.tasks[:n]...)
	rest := copy(l.tasks, l.tasks[n:])
	clear(l.tasks[rest:])
	l.tasks = l.tasks[:rest]
	return batch
}

// call runs a callback, recovering a panic.
func (l *Loop) call(f func()) {
	defer func() {
		if v := recover(); v != nil {
			l.panicked(v, debug.Stack())
		}
	}()
	f()
}

// panicked reports a recovered panic.
func (l *Loop) panicked(v any, stack []byte) {
	if l.opts.OnPanic != nil {
		defer func() {
			if v := recover(); v != nil { // OnPanic itself panicked
				l.record(v, debug.Stack())
			}
		}()
		l.opts.OnPanic(v, stack)
		return
	}
	l.record(v, stack)
}

// record keeps the first panic for Run to return.
func (l *Loop) record(v any, stack []byte) {
	l.mu.Lock()
	if l.firstPan == nil {
		l.firstPan = &PanicError{Value: v, Stack: stack}
	}
	l.mu.Unlock()
}
