package ufs

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/aio"
	"github.com/gokernel/gokernel/eloop"
	"github.com/gokernel/gokernel/libgo"
)

// An Async's file I/O on io_uring: where the kernel has io_uring (the
// host) and aio.Choose picks it, an Async has a ring of its own, watched
// by its loop through the ring's fd, and its opens, reads, writes, fsyncs
// and closes are operations on that ring instead of jobs for the loop's
// worker pool: no thread hand-off, and the system calls of one loop turn
// go to the kernel in one io_uring_enter.
//
// Names are opened with openat2(2) relative to the root's fd, with
// RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS: the kernel
// opens a name only if it lies beneath the root and no component is a
// symlink, so it never opens anything the FS's own resolution (resolve,
// root.go) would not. When the kernel refuses (a symlink to follow, an
// escape, a missing file, any error) the call is done again on the pool,
// whose resolution gives the FS's own result and error, so both backends
// give the same answers. Stat, ReadDir and names with ".." stay on the
// pool.

// ringOps are the io_uring operations an Async's ring must have.
var ringOps = []uint8{aio.OpOpenat2, aio.OpRead, aio.OpWrite, aio.OpFsync, aio.OpClose}

// ringEntries is the most completions an Async's ring awaits at once,
// and the size of its submission queue; the completion queue is twice
// as large, so it never overflows. A ring for ReadFile's chains
// (uring_direct.go) has queues twice as large again: a chain is three
// entries for two completions, the close of its slot one more for none,
// and a chain's open and a slot's close post a completion when they
// fail.
const ringEntries = 256

// errRingClosed is the error of an operation started on a ring whose
// loop has stopped; the Async methods return it as fileClosed does.
var errRingClosed = fmt.Errorf("ufs: async: %w", aio.File.ErrClosed())

// A ringOp is one operation on the ring: prep fills its SQE, done gets
// its result on the loop goroutine, or err if the ring closed before the
// operation went to the kernel. The ringOp holds the memory the kernel
// uses (buffers, path, open_how) until done. One ringOp may be started
// again from its done, for a call's next step.
type ringOp interface {
	prep(s *aio.SQE)
	done(res int32, err error)
}

// funcOp is a ringOp made of two funcs.
type funcOp struct {
	prepFn func(*aio.SQE)
	doneFn func(res int32, err error)
}

func (o *funcOp) prep(s *aio.SQE)           { o.prepFn(s) }
func (o *funcOp) done(res int32, err error) { o.doneFn(res, err) }

// fileRing is an Async's ring. Operations may be started on any
// goroutine; their done callbacks run on the loop goroutine, from the
// watch on the ring's fd. Starts made while those callbacks run are
// submitted together when they are done.
type fileRing struct {
	loop *eloop.Loop
	lc   *libgo.Libc

	mu       sync.Mutex
	ring     *aio.Ring         // guarded by mu
	ops      aio.Slots[ringOp] // the operations given to the ring, by user data; guarded by mu
	backlog  []ringOp          // started when there was no room (fits); guarded by mu
	closes   []uint32          // file table slots to close when the submission queue has room; guarded by mu
	batching bool              // done callbacks are running: reap submits; guarded by mu
	closing  bool              // the loop stops: new calls fail; guarded by mu
	closed   bool              // the ring is closed; guarded by mu
	retry    bool              // a flush is posted after a failed submit; guarded by mu
	watch    eloop.WatchID
	started  uint64 // entries given to the ring, for tests; guarded by mu

	// The ring's file table (aio.Ring.RegisterFilesSparse), for
	// ReadFile's linked chains (uring_direct.go); nil slots when the
	// kernel has none. Guarded by mu.
	files   []uint32 // the free slots
	scratch [][]byte // each slot's buffer for its chain's reads, made when first used
	direct  bool     // the ring has a file table

	cqes []aio.CQE   // reap's buffer; loop goroutine only
	due  []dueResult // reap's results; loop goroutine only
}

// dueResult is a completion matched with its operation.
type dueResult struct {
	op  ringOp
	res int32
}

// newFileRing makes a ring for an Async on loop, watches its fd and
// closes it when the loop stops.
func newFileRing(loop *eloop.Loop) (*fileRing, error) {
	k := loop.Kernel()
	cfg := aio.RingConfig{Entries: ringEntries}
	chains := os.Getenv(EnvUring) == "chain"
	if chains {
		cfg = aio.RingConfig{Entries: 2 * ringEntries, CQEntries: 4 * ringEntries}
	}
	ring, err := aio.NewRing(k, cfg)
	if err != nil {
		return nil, err
	}
	r := &fileRing{
		loop: loop,
		lc:   libgo.New(k),
		ring: ring,
		cqes: make([]aio.CQE, 64),
	}
	if chains {
		r.setupDirect()
	}
	if r.watch, err = loop.Watch(ring.Fd(), aio.Read, r.reap); err != nil {
		ring.Close()
		return nil, err
	}
	if err := loop.OnStop(r.stop); err != nil {
		loop.Unwatch(r.watch)
		ring.Close()
		return nil, err
	}
	return r, nil
}

// check is the start of every Async call on the ring: ctx's error if it
// has ended, errRingClosed once the loop stops.
func (r *fileRing) check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closing {
		return errRingClosed
	}
	return nil
}

// begin starts the first operation of an Async call: it fails with
// errRingClosed once the loop stops.
func (r *fileRing) begin(op ringOp) error { return r.start(op, true) }

// next starts a later operation of a call already under way, which the
// loop's stop waits for; it fails only once the ring is closed.
func (r *fileRing) next(op ringOp) error { return r.start(op, false) }

// start is begin (first) or next.
func (r *fileRing) start(op ringOp, first bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || first && r.closing {
		return errRingClosed
	}
	r.add(op, first)
	return nil
}

// add queues op, and submits it unless reap will. A call's first
// operation waits behind those in the backlog; a later one (first false)
// goes ahead of them when it fits, since its call may hold what they
// wait for (a slot of the file table). With mu held.
func (r *fileRing) add(op ringOp, first bool) {
	if first && len(r.backlog) > 0 || !r.fits(op) {
		r.backlog = append(r.backlog, op)
		return
	}
	r.queue(op)
	if !r.batching {
		r.flush()
	}
}

// A multiOp is a ringOp that queues entries of its own (a linked chain,
// or an entry whose completion is skipped) instead of one entry with
// prep: need says how many completions it waits for, how many entries
// it takes and whether it takes a slot of the file table.
type multiOp interface {
	ringOp
	need() (completions, entries int, slot bool)
	queueOn(r *fileRing)
}

// fits reports whether op can be queued now: no more than ringEntries
// completions are ever awaited (so the completion queue never
// overflows), the submission queue has room, and a chain has a slot of
// the file table. With mu held.
func (r *fileRing) fits(op ringOp) bool {
	completions, entries, slot := 1, 1, false
	if m, ok := op.(multiOp); ok {
		completions, entries, slot = m.need()
	}
	return r.ops.Len()+completions <= ringEntries &&
		r.ring.SQEntries()-r.ring.Pending() >= uint32(entries) &&
		(!slot || len(r.files) > 0)
}

// queue puts op in the submission queue, which has room (fits). With mu
// held.
func (r *fileRing) queue(op ringOp) {
	if m, ok := op.(multiOp); ok {
		_, entries, _ := m.need()
		r.started += uint64(entries)
		m.queueOn(r)
		return
	}
	r.started++
	s := r.ring.GetSQE()
	op.prep(s)
	s.UserData = r.ops.Add(op)
}

// flush submits what is queued. If the kernel cannot take it all now
// (the call fails, or an interrupted call took none), the rest stays
// queued and a task on the loop tries again. With mu held.
func (r *fileRing) flush() {
	for {
		if _, err := r.ring.Submit(); err != nil || r.ring.Pending() > 0 {
			break
		}
		if !r.fill() {
			return
		}
	}
	if r.retry {
		return
	}
	r.retry = true
	r.loop.Post(func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.retry = false
		if !r.closed {
			r.flush()
		}
	})
}

// take moves the completions waiting in the ring to r.due and fills the
// room they leave from the backlog. With mu held.
func (r *fileRing) take() (n int, err error) {
	n, err = r.ring.Reap(r.cqes)
	for _, c := range r.cqes[:n] {
		if op, ok := r.ops.Remove(c.UserData); ok {
			r.due = append(r.due, dueResult{op, c.Res})
		}
	}
	r.fill()
	return n, err
}

// fill queues what waits for room: the closes of file table slots
// first, which take no slot and free one, then what fits of the backlog
// (a chain waits for a slot that a later read of another call may hold
// until it ends). It reports
// whether it queued anything. With mu held.
func (r *fileRing) fill() bool {
	queued := false
	for len(r.closes) > 0 && r.ring.SQEntries() > r.ring.Pending() {
		r.queueClose(r.closes[0])
		r.closes = r.closes[1:]
		queued = true
	}
	kept := r.backlog[:0]
	for _, op := range r.backlog { // in order, but what fits goes past what does not
		if r.fits(op) {
			r.queue(op)
			queued = true
		} else {
			kept = append(kept, op)
		}
	}
	clear(r.backlog[len(kept):])
	r.backlog = kept
	return queued
}

// runDue calls the done callbacks of r.due.
func (r *fileRing) runDue() {
	for i, d := range r.due {
		d.op.done(d.res, nil)
		r.due[i] = dueResult{}
	}
	r.due = r.due[:0]
}

// reapRounds bounds the rounds of one reap: operations on files in the
// page cache complete during the submit, so a reap that has submitted
// finds new completions at once and takes them without going back to the
// poller, a few times before it leaves the loop to its timers, tasks and
// other fds.
const reapRounds = 4

// reap is the watch callback of the ring's fd: it runs the done callbacks
// of every completion, then submits what they started, and again while
// that completes at once, up to reapRounds times.
func (r *fileRing) reap(aio.Events) {
	for round := 1; ; round++ {
		r.mu.Lock()
		r.batching = true
		r.mu.Unlock()
		for {
			r.mu.Lock()
			n, _ := r.take()
			r.mu.Unlock()
			r.runDue()
			if n < len(r.cqes) {
				break
			}
		}
		r.mu.Lock()
		r.batching = false
		more := false
		if !r.closed {
			r.flush()
			more = r.ring.Ready() > 0
		}
		r.mu.Unlock()
		if !more || round == reapRounds {
			return
		}
	}
}

// stop is the loop's OnStop hook: new calls fail from now on, the calls
// under way run to their end (their done callbacks are called), then the
// ring is closed.
func (r *fileRing) stop() {
	r.mu.Lock()
	r.closing = true
	r.batching = false
	for {
		r.fill()
		if r.ops.Len() == 0 && len(r.backlog) == 0 {
			break
		}
		wait := uint32(1)
		if r.ops.Len() == 0 { // only room was wanting: submit, and fill again
			wait = 0
		}
		if _, err := r.ring.SubmitAndWait(wait); err != nil && !aio.RingBusy(err) {
			break // the ring is broken: fail what is left below
		}
		r.take()
		r.mu.Unlock()
		r.runDue()
		r.mu.Lock()
	}
	r.closed = true
	var left []ringOp
	r.ops.All(func(op ringOp) { left = append(left, op) })
	left = append(left, r.backlog...)
	r.backlog = nil
	r.mu.Unlock()
	for _, op := range left {
		op.done(0, errRingClosed)
	}
	r.loop.Unwatch(r.watch)
	r.ring.Close()
}

// closeFd closes fd on the ring, or at once if the ring is closed, and
// calls then, if not nil, with close's errno.
func (r *fileRing) closeFd(fd int, then func(error)) {
	op := &closeOp{r: r, fd: fd, then: then}
	if err := r.next(op); err != nil {
		op.done(0, err)
	}
}

// closeOp is a close on the ring.
type closeOp struct {
	r    *fileRing
	fd   int
	then func(error)
}

func (o *closeOp) prep(s *aio.SQE) { s.PrepClose(o.fd) }

func (o *closeOp) done(res int32, err error) {
	if err != nil { // the ring is closed: close it here
		err = o.r.lc.Close(o.fd)
	} else if res < 0 {
		err = syscall.Errno(-res)
	}
	if o.then != nil {
		o.then(err)
	}
}

// ringName reports whether a name may be opened on the ring: not empty,
// not absolute, without NUL and without ".." (the FS takes ".."
// lexically; the kernel does not). Other names go to the pool.
func ringName(name string) bool {
	if name == "" || name[0] == '/' {
		return false
	}
	for part := range splitSlash(name) {
		if part == ".." {
			return false
		}
	}
	for i := range len(name) {
		if name[i] == 0 {
			return false
		}
	}
	return true
}

// open opens name in fsys's root with openat2 on the ring and calls then
// on the loop goroutine with the fd, or with ok false if the kernel
// refused (the caller then asks the pool). An error means nothing was
// started: the FS or the ring is closed.
func (r *fileRing) open(fsys *FS, name string, flag int, perm uint32, then func(fd int, ok bool)) error {
	rootfd, err := fsys.r.incref()
	if err != nil {
		return err
	}
	path, err := unix.BytePtrFromString(name)
	if err != nil {
		fsys.r.decref()
		return err
	}
	how := new(unix.OpenHow)
	*how = openHow(flag, perm)
	err = r.begin(&funcOp{
		prepFn: func(s *aio.SQE) { s.PrepOpenat2(rootfd, path, how) },
		doneFn: func(res int32, err error) {
			fsys.r.decref()
			if err != nil || res < 0 {
				then(-1, false)
				return
			}
			then(int(res), true)
		},
	})
	if err != nil {
		fsys.r.decref()
	}
	return err
}

// fileErr is the PathError a File method gives for errno res.
func fileErr(op string, f *File, res int32) error {
	return &fs.PathError{Op: op, Path: f.name, Err: syscall.Errno(-res)}
}

// firstRead is the buffer a ReadFile on the ring reads into first: a
// page and some, so a file of up to a page takes one read, one allocation
// and no copy. Without a file table, a file that fills it is sized with
// fstat(2) (statx on io_uring always goes to a worker thread); a file
// much smaller than it is copied out at its size.
const firstRead = 4096 + 512

// readFileOp is one Async.ReadFile on the ring, one ringOp started again
// for each step. Where the ring has a file table it starts as a linked
// chain (uring_direct.go): openat2 into a slot of the table, a read into
// firstRead bytes and a second read, which sees the end of a small file;
// without one, or after the chain for a file larger than it read, it is
// openat2, then reads until one returns 0 (as FS.ReadFile does), then
// close.
type readFileOp struct {
	r      *fileRing
	fsys   *FS
	name   string
	path   []byte // name, NUL-terminated
	how    unix.OpenHow
	rootfd int
	fd     int    // -1 while opening, and for a file in the table
	data   []byte // what was read; the next read goes to its spare capacity
	sized  bool   // data was grown to the size fstat gave
	a      *Async
	ctx    context.Context
	then   func([]byte, error) // the caller's done

	slot    int32  // the file table slot, or -1
	chain   bool   // the chain is queued or under way
	got     uint8  // completions of the chain's two reads so far
	res1    int32  // the chain's first read's result
	res2    int32  // its second's
	ended   error  // the ring closed before the chain's reads ran
	scratch []byte // the slot's buffer, which the chain reads into
}

// start begins the open (or the chain); an error means nothing was
// started.
func (o *readFileOp) start() error {
	rootfd, err := o.fsys.r.incref()
	if err != nil {
		return err
	}
	o.rootfd, o.fd, o.slot = rootfd, -1, -1
	o.path = append([]byte(o.name), 0)
	o.how = openHow(unix.O_RDONLY, 0)
	if o.r.direct {
		o.chain = true
		o.how.Flags &^= unix.O_CLOEXEC // a file in the table has no fd; the kernel refuses the flag
	}
	if err := o.r.begin(o); err != nil {
		o.fsys.r.decref()
		return err
	}
	return nil
}

// target is where the next read goes: data's spare capacity, grown when
// there is none: to fstat's size the first time when the file has an fd,
// then as append grows; twice as large each time for a slot of the file
// table.
func (o *readFileOp) target() []byte {
	if len(o.data) == cap(o.data) {
		size := 0
		if !o.sized && o.fd >= 0 {
			o.sized = true
			var st unix.Stat_t
			if o.fsys.l.Fstat(o.fd, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG {
				size = int(min(max(st.Size, 0), readFileHint)) // as FS.ReadFile: a hint, bounded
			}
		}
		grow := max(size+1-len(o.data), 512)
		if o.fd < 0 { // a slot of the table has no fd to fstat: double
			grow = max(grow, len(o.data))
		}
		o.data = slices.Grow(o.data, grow)
	}
	return o.data[len(o.data):cap(o.data)]
}

func (o *readFileOp) prep(s *aio.SQE) {
	switch {
	case o.slot >= 0:
		s.PrepReadDirect(uint32(o.slot), o.target(), -1)
	case o.fd < 0:
		s.PrepOpenat2(o.rootfd, &o.path[0], &o.how)
	default:
		s.PrepRead(o.fd, o.target(), -1)
	}
}

func (o *readFileOp) done(res int32, err error) {
	if o.chain {
		o.res1 = res
		o.chainDone(err)
		return
	}
	if o.fd < 0 && o.slot < 0 { // the open
		o.fsys.r.decref()
		if err != nil || res < 0 {
			o.toPool()
			return
		}
		o.fd = int(res)
		o.data = make([]byte, 0, firstRead)
	} else {
		switch {
		case err != nil:
			o.finish(err)
			return
		case res < 0:
			o.finish(&fs.PathError{Op: "read", Path: o.name, Err: syscall.Errno(-res)})
			return
		case res == 0:
			o.finish(nil)
			return
		}
		o.data = o.data[:len(o.data)+int(res)]
	}
	if err := o.r.next(o); err != nil {
		o.finish(err)
	}
}

// finish closes the file and calls done with what was read and err.
func (o *readFileOp) finish(err error) {
	if o.slot >= 0 {
		o.r.closeDirect(uint32(o.slot))
		o.slot, o.scratch = -1, nil
	} else {
		o.r.closeFd(o.fd, nil) // FS.ReadFile ignores close's error too
	}
	data := o.data
	if cap(data) == firstRead && len(data) < firstRead/4 {
		data = append(make([]byte, 0, len(data)), data...)
	}
	o.data = nil
	o.then(data, err)
}

// toPool does the call again on the pool, which gives its result and
// error.
func (o *readFileOp) toPool() {
	o.data = nil
	o.a.readFilePool(o.ctx, o.name, o.then, true)
}

// openHow is the open_how of an open on the ring: flag (O_CLOEXEC and
// O_NOFOLLOW added), perm when the open may create, and the resolution
// that keeps the kernel beneath the root and off symlinks.
func openHow(flag int, perm uint32) unix.OpenHow {
	how := unix.OpenHow{
		Flags:   uint64(flag | unix.O_CLOEXEC | unix.O_NOFOLLOW),
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	}
	if flag&unix.O_CREAT != 0 || flag&unix.O_TMPFILE == unix.O_TMPFILE {
		how.Mode = uint64(perm)
	}
	return how
}
