package eloop

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"

	"github.com/gokernel/gokernel/aio"
)

// A job is one Submit: its work, its done callback and its context.
type job struct {
	ctx  context.Context
	work func(ctx context.Context) (any, error)
	done func(any, error)
}

// pool runs Submit's work on a fixed set of worker goroutines, fed by a
// bounded queue.
type pool struct {
	queue   chan *job
	quit    chan struct{} // closed when the loop stops
	workers sync.WaitGroup
	senders sync.WaitGroup // Submits between the state check and the send
	mu      sync.Mutex
	closed  bool // guarded by mu
}

func (p *pool) init(size int) {
	p.queue = make(chan *job, size)
	p.quit = make(chan struct{})
}

// start starts n workers that deliver results to l.
func (p *pool) start(l *Loop, n int) {
	for range n {
		p.workers.Add(1)
		go p.work(l)
	}
}

// work is one worker: it runs jobs until the loop stops.
func (p *pool) work(l *Loop) {
	defer p.workers.Done()
	for {
		select {
		case <-p.quit:
			return
		case j := <-p.queue:
			v, err := p.run(l, j)
			l.postInternal(func() { j.done(v, err) })
		}
	}
}

// run runs j's work, unless its ctx has ended. A panic in the work is
// reported as a panic in a callback would be (see Options.OnPanic), on
// the loop goroutine, and becomes the work's error, a *PanicError.
func (p *pool) run(l *Loop, j *job) (v any, err error) {
	if err := j.ctx.Err(); err != nil {
		return nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			pe := &PanicError{Value: r, Stack: debug.Stack()}
			l.postInternal(func() { l.panicked(pe.Value, pe.Stack) })
			v, err = nil, pe
		}
	}()
	return j.work(j.ctx)
}

// stop closes the pool to Submits, waits for the workers, whose results
// are then queued as tasks, and queues the cancellation of every job not
// started.
func (p *pool) stop(l *Loop) {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	close(p.quit)
	p.senders.Wait()
	p.workers.Wait()
	for {
		select {
		case j := <-p.queue:
			l.postInternal(func() { j.done(nil, fmt.Errorf("eloop: submit: %w", aio.Socket.ErrClosed())) })
		default:
			return
		}
	}
}

// Submit runs work on one of the loop's worker goroutines (see
// Options.Workers) and then done, on the loop goroutine, with its result.
// It may be called from any goroutine, callbacks included, once Run has
// started or before.
//
// Back-pressure: when Options.QueueSize works already wait for a worker,
// Submit blocks until one is taken, and returns ctx.Err() if ctx ends
// first; done is then never called. Once Submit has returned nil, done is
// called exactly once:
//   - with ctx.Err(), if ctx ended before a worker took the work, which
//     then never runs;
//   - with an error satisfying errors.Is(err, net.ErrClosed), if the loop
//     stopped before a worker took it;
//   - otherwise with what work returned, or a *PanicError if work
//     panicked (the panic is also reported as Options.OnPanic says);
//     work in progress when the loop stops is waited for, and Run
//     returns after its done.
//
// Work submitted before Run waits in the queue until Run starts the
// workers.
//
// On a stopped loop Submit returns an error satisfying
// errors.Is(err, net.ErrClosed).
func (l *Loop) Submit(ctx context.Context, work func(ctx context.Context) (any, error), done func(any, error)) error {
	p := &l.pool
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return fmt.Errorf("eloop: submit: %w", aio.Socket.ErrClosed())
	}
	p.senders.Add(1)
	p.mu.Unlock()
	defer p.senders.Done()
	if err := ctx.Err(); err != nil {
		return err
	}
	j := &job{ctx: ctx, work: work, done: done}
	select {
	case p.queue <- j:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-p.quit:
		return fmt.Errorf("eloop: submit: %w", aio.Socket.ErrClosed())
	}
}
