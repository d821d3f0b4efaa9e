package aio

import (
	"errors"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/libgo"
	"github.com/gokernel/gokernel/sys"
)

// Names of the io_uring system calls in the errors a Ring returns.
const (
	uringSetupName    = "io_uring_setup"
	uringEnterName    = "io_uring_enter"
	uringRegisterName = "io_uring_register"
	mmapName          = "mmap"
)

// DefaultRingEntries is the submission queue size of a RingConfig that
// gives none.
const DefaultRingEntries = 256

// MaxRingEntries is the largest submission queue a Ring asks for
// (IORING_MAX_ENTRIES).
const MaxRingEntries = 32768

// RingConfig says how to set a Ring up.
type RingConfig struct {
	// Entries is the submission queue size, rounded up to a power of
	// two; 0 means DefaultRingEntries, more than MaxRingEntries is EINVAL.
	Entries uint32
	// CQEntries is the completion queue size, rounded up to a power of
	// two; 0 means twice Entries. It must be at least Entries.
	CQEntries uint32
	// SingleIssuer says that one goroutine, locked to its thread
	// (runtime.LockOSThread) from before NewRing until after Close,
	// makes every call on the Ring. The ring is then set up with
	// IORING_SETUP_SINGLE_ISSUER|DEFER_TASKRUN where the kernel has
	// them: completions are processed only when that thread enters the
	// kernel to wait or reap, with no interrupts meanwhile. A call from
	// another thread then fails with EEXIST.
	SingleIssuer bool
	// RegisterRing registers the ring's fd with the kernel for the
	// calling thread (IORING_REGISTER_RING_FDS, Linux 5.18), so that each
	// io_uring_enter names the ring by its index
	// (IORING_ENTER_REGISTERED_RING) and the kernel does not look the fd
	// up. A registration belongs to one thread, so it is made only with
	// SingleIssuer, and Close (on that thread) undoes it. A kernel that
	// refuses it leaves the Ring on its plain fd ([Ring.RegisteredRing]).
	RegisterRing bool
	// NoSQArray sets the ring up without the submission queue's index
	// array (IORING_SETUP_NO_SQARRAY, Linux 6.6): the kernel takes the
	// entries in ring order, one indirection less per entry. Kernels
	// without it get the array.
	NoSQArray bool
	// SQPoll makes a kernel thread poll the submission queue
	// (IORING_SETUP_SQPOLL): entries are taken without an io_uring_enter
	// while it runs, and it sleeps after SQThreadIdle without work (0:
	// the kernel's default, one second), when the next Submit wakes it.
	// The thread's CPU time is the process's (it is one of its threads).
	// DEFER_TASKRUN does not go with it, so SingleIssuer then only asks
	// for SINGLE_ISSUER. A kernel that refuses SQPOLL (EINVAL) gets a
	// ring without it ([Ring.SetupFlags]).
	SQPoll bool
	// SQThreadIdle is how long the SQPOLL thread polls without work
	// before it sleeps, in whole milliseconds (0: the kernel's default).
	SQThreadIdle time.Duration
}

// A Ring is an io_uring instance on one kernel: a submission queue the
// caller fills with operations (SQEs) and a completion queue the kernel
// fills with their results (CQEs), both shared memory, so one
// io_uring_enter(2) submits many operations and waits for many results,
// and no system call is needed to read a result.
//
// A Ring is not safe for concurrent use: one goroutine owns it, as a loop
// owns a Poller's Wait (guard it with a mutex to share it). It is built on
// libgo, so tracing and fault injection see its every io_uring_setup,
// io_uring_enter and io_uring_register; the rings are mapped with mmap.
//
// Memory handed to the kernel in an SQE (a buffer, a path, a struct) must
// stay allocated and unchanged until the operation's completion has been
// reaped: the kernel reads or writes it after Submit returns. The Prep
// methods make the Go values they are given escape to the heap, where
// they do not move; the caller keeps them referenced.
//
// Where the kernels differ: only the host has io_uring. LKL (Linux 4.9)
// says ENOSYS to io_uring_setup; [Choose] picks the epoll backend there.
type Ring struct {
	lc       *libgo.Libc
	fd       int
	flags    uint32 // setup flags in effect
	features uint32

	ringMem, cqMem, sqeMem []byte // cqMem is nil when the CQ shares ringMem

	sqHead, sqTail, sqFlags, sqDropped *uint32
	sqMask, sqEntries                  uint32
	sqes                               []SQE
	sqeTail                            uint32 // the next SQE GetSQE gives; the kernel's tail is set from it at submit

	cqHead, cqTail, cqOverflow *uint32
	cqMask, cqEntries          uint32
	cqes                       []CQE

	ringIndex int // the registered ring's index (RegisterRing), or -1

	// arg and ts are the extended argument of a timed wait; in the Ring,
	// on the heap, so the kernel's pointer to them stays valid.
	arg getEventsArg
	ts  unix.Timespec

	overflowFlushes uint64 // flushes of completions held back for want of room
	closed          bool
}

// NewRing makes a Ring on kernel k (nil: the process default) with
// io_uring_setup(2) and maps its queues. It asks for
// IORING_SETUP_COOP_TASKRUN, and SINGLE_ISSUER|DEFER_TASKRUN when
// cfg.SingleIssuer says so, and falls back to fewer flags when the kernel
// refuses them (EINVAL); [Ring.SetupFlags] tells what was granted. A
// kernel without io_uring is ENOSYS (errors.Is(err,
// errors.ErrUnsupported)); errors are *os.SyscallError
// ("io_uring_setup", "mmap").
func NewRing(k sys.Kernel, cfg RingConfig) (*Ring, error) {
	if k == nil {
		k = sys.Default()
	}
	entries := cfg.Entries
	if entries == 0 {
		entries = DefaultRingEntries
	}
	cqEntries := cfg.CQEntries
	if cqEntries == 0 {
		cqEntries = 2 * entries
	}
	if entries > MaxRingEntries || cqEntries < entries || cqEntries > 2*MaxRingEntries {
		return nil, os.NewSyscallError(uringSetupName, syscall.EINVAL)
	}
	r := &Ring{lc: libgo.New(k), fd: -1, ringIndex: -1}
	var p libgo.IoUringParams
	var err error
	for _, extra := range setupTries(cfg) {
		p = libgo.IoUringParams{Flags: SetupCQSize | extra, CqEntries: cqEntries}
		if extra&SetupSQPoll != 0 {
			p.SqThreadIdle = uint32(cfg.SQThreadIdle.Milliseconds())
		}
		r.fd, err = r.lc.IoUringSetup(entries, &p)
		if err != syscall.EINVAL {
			break
		}
	}
	if err != nil {
		return nil, os.NewSyscallError(uringSetupName, err)
	}
	r.flags, r.features = p.Flags, p.Features
	if err := r.mapRings(&p); err != nil {
		r.unmap()
		r.lc.Close(r.fd)
		return nil, err
	}
	if cfg.RegisterRing && cfg.SingleIssuer {
		r.registerRing()
	}
	return r, nil
}

// setupTries lists the setup flags NewRing asks for, best first: each
// try the kernel refuses with EINVAL gives way to the next.
func setupTries(cfg RingConfig) []uint32 {
	var tries []uint32
	sqpoll := []uint32{0}
	if cfg.SQPoll {
		sqpoll = []uint32{SetupSQPoll, 0}
	}
	noArray := []uint32{0}
	if cfg.NoSQArray {
		noArray = []uint32{SetupNoSQArray, 0}
	}
	for _, sq := range sqpoll {
		base := []uint32{SetupCoopTaskrun | SetupTaskrunFlag, 0}
		switch {
		case cfg.SingleIssuer && sq != 0:
			base = append([]uint32{SetupSingleIssuer | SetupCoopTaskrun | SetupTaskrunFlag}, base...)
		case cfg.SingleIssuer:
			base = append([]uint32{SetupSingleIssuer | SetupDeferTaskrun | SetupTaskrunFlag}, base...)
		}
		for _, b := range base {
			for _, na := range noArray {
				tries = append(tries, sq|b|na)
			}
		}
	}
	return tries
}

// registerRing registers the ring fd for this thread; a refusal leaves
// the plain fd in use.
func (r *Ring) registerRing() {
	upd := rsrcUpdate{offset: ^uint32(0), data: uint64(r.fd)} // offset -1: any free index
	if n, err := r.lc.IoUringRegister(r.fd, registerRingFDs, unsafe.Pointer(&upd), 1); err == nil && n == 1 {
		r.ringIndex = int(upd.offset)
	}
}

// RegisteredRing reports whether the ring's fd is registered
// (RingConfig.RegisterRing) and io_uring_enter names it by index.
func (r *Ring) RegisteredRing() bool { return r.ringIndex >= 0 }

// mapRings maps the queues the kernel made and points the Ring into them.
func (r *Ring) mapRings(p *libgo.IoUringParams) error {
	sqSize := int(p.SqOff.Array) + int(p.SqEntries)*4
	cqSize := int(p.CqOff.Cqes) + int(p.CqEntries)*int(unsafe.Sizeof(CQE{}))
	if p.Flags&SetupNoSQArray != 0 {
		sqSize = int(p.SqOff.Flags) + 4 // no array: the fields are all before the CQEs
	}
	single := p.Features&FeatSingleMmap != 0
	if single {
		sqSize = max(sqSize, cqSize)
	}
	const prot, flags = unix.PROT_READ | unix.PROT_WRITE, unix.MAP_SHARED | unix.MAP_POPULATE
	var err error
	if r.ringMem, err = r.lc.Mmap(r.fd, offSQRing, sqSize, prot, flags); err != nil {
		return os.NewSyscallError(mmapName, err)
	}
	cqMem := r.ringMem
	if !single {
		if r.cqMem, err = r.lc.Mmap(r.fd, offCQRing, cqSize, prot, flags); err != nil {
			return os.NewSyscallError(mmapName, err)
		}
		cqMem = r.cqMem
	}
	if r.sqeMem, err = r.lc.Mmap(r.fd, offSQEs, int(p.SqEntries)*int(unsafe.Sizeof(SQE{})), prot, flags); err != nil {
		return os.NewSyscallError(mmapName, err)
	}
	u32 := func(mem []byte, off uint32) *uint32 { return (*uint32)(unsafe.Pointer(&mem[off])) }
	sq := &p.SqOff
	r.sqHead, r.sqTail, r.sqFlags, r.sqDropped = u32(r.ringMem, sq.Head), u32(r.ringMem, sq.Tail), u32(r.ringMem, sq.Flags), u32(r.ringMem, sq.Dropped)
	r.sqMask, r.sqEntries = *u32(r.ringMem, sq.RingMask), *u32(r.ringMem, sq.RingEntries)
	r.sqes = unsafe.Slice((*SQE)(unsafe.Pointer(&r.sqeMem[0])), r.sqEntries)
	// The SQ array maps ring slots to SQEs; slot i is always SQE i.
	// Without it (NO_SQARRAY) the kernel does the same.
	if p.Flags&SetupNoSQArray == 0 {
		array := unsafe.Slice(u32(r.ringMem, sq.Array), r.sqEntries)
		for i := range array {
			array[i] = uint32(i)
		}
	}
	cq := &p.CqOff
	r.cqHead, r.cqTail, r.cqOverflow = u32(cqMem, cq.Head), u32(cqMem, cq.Tail), u32(cqMem, cq.Overflow)
	r.cqMask, r.cqEntries = *u32(cqMem, cq.RingMask), *u32(cqMem, cq.RingEntries)
	r.cqes = unsafe.Slice((*CQE)(unsafe.Pointer(&cqMem[cq.Cqes])), r.cqEntries)
	r.sqeTail = atomic.LoadUint32(r.sqTail)
	return nil
}

// unmap releases the mappings that were made.
func (r *Ring) unmap() {
	for _, m := range []*[]byte{&r.sqeMem, &r.cqMem, &r.ringMem} {
		if *m != nil {
			r.lc.Munmap(*m)
			*m = nil
		}
	}
	r.sqes, r.cqes = nil, nil
}

// Fd returns the ring's fd. It is pollable: readable (EPOLLIN) while
// completions wait in the completion queue, so an epoll loop can watch a
// ring; [Ring.RegisterEventFD] is the other way.
func (r *Ring) Fd() int { return r.fd }

// SetupFlags returns the IORING_SETUP_* flags the ring was made with
// (Setup*).
func (r *Ring) SetupFlags() uint32 { return r.flags }

// Features returns the IORING_FEAT_* flags the kernel reported (Feat*).
func (r *Ring) Features() uint32 { return r.features }

// SQEntries returns the size of the submission queue.
func (r *Ring) SQEntries() uint32 { return r.sqEntries }

// CQEntries returns the size of the completion queue.
func (r *Ring) CQEntries() uint32 { return r.cqEntries }

// GetSQE returns the next free submission queue entry, zeroed, or nil
// when the queue is full: then Submit, and reap completions if Submit
// says the kernel is busy. The entry is the caller's until the next
// Submit.
func (r *Ring) GetSQE() *SQE {
	if r.closed {
		return nil
	}
	head := atomic.LoadUint32(r.sqHead)
	if r.sqeTail-head >= r.sqEntries {
		return nil
	}
	s := &r.sqes[r.sqeTail&r.sqMask]
	r.sqeTail++
	*s = SQE{}
	return s
}

// Pending returns how many entries GetSQE gave that the kernel has not
// consumed yet.
func (r *Ring) Pending() uint32 {
	if r.closed {
		return 0
	}
	return r.sqeTail - atomic.LoadUint32(r.sqHead)
}

// Submit hands the entries got since the last Submit to the kernel with
// one io_uring_enter(2), and returns how many it consumed. Nothing
// pending and nothing to flush costs no system call.
//
// When the kernel cannot take the entries now (EAGAIN, ENOMEM: out of
// memory for requests; EBUSY: completions wait for room), the error
// satisfies [RingBusy] and the entries stay queued: reap completions, then
// Submit again. Other errors are *os.SyscallError "io_uring_enter"; a
// closed Ring is fs.ErrClosed.
func (r *Ring) Submit() (int, error) { return r.enter(0, -1, false) }

// SubmitAndWait is Submit that then waits until at least wait completions
// are in the queue (at once if they already are), without limit. A
// signal may end the wait early: it returns with a nil error then, and
// the caller reaps and waits again.
func (r *Ring) SubmitAndWait(wait uint32) (int, error) { return r.enter(wait, -1, true) }

// SubmitAndWaitTimeout is SubmitAndWait that waits at most timeout (< 0:
// without limit; 0: not at all). Running out of time is not an error. It
// needs IORING_FEAT_EXT_ARG (Linux 5.11); without it a timeout >= 0 is
// ENOTSUP.
func (r *Ring) SubmitAndWaitTimeout(wait uint32, timeout time.Duration) (int, error) {
	return r.enter(wait, timeout, true)
}

// enter flushes the submission queue and makes the io_uring_enter call
// Submit and the waits share.
func (r *Ring) enter(wait uint32, timeout time.Duration, waiting bool) (int, error) {
	if r.closed {
		return 0, File.ErrClosed()
	}
	if timeout == 0 {
		wait, waiting = 0, false
	}
	atomic.StoreUint32(r.sqTail, r.sqeTail) // release: the SQEs are written
	toSubmit := r.sqeTail - atomic.LoadUint32(r.sqHead)
	var flags uint32
	if waiting && wait > 0 || r.needFlush() {
		flags |= enterGetEvents
		if atomic.LoadUint32(r.sqFlags)&sqCQOverflow != 0 {
			r.overflowFlushes++
		}
	}
	if r.flags&SetupSQPoll != 0 && toSubmit > 0 {
		// The kernel thread takes the entries; it needs a system call
		// only to be woken. (The tail's store and this load are
		// sequentially consistent, as the kernel requires.)
		if atomic.LoadUint32(r.sqFlags)&sqNeedWakeup != 0 {
			flags |= enterSQWakeup
		} else if flags == 0 {
			return int(toSubmit), nil
		}
	}
	if toSubmit == 0 && flags == 0 {
		return 0, nil
	}
	var arg unsafe.Pointer
	var argSize int
	if flags&enterGetEvents != 0 && wait > 0 && timeout > 0 {
		if r.features&FeatExtArg == 0 {
			return 0, os.NewSyscallError(uringEnterName, syscall.ENOTSUP)
		}
		r.ts = unix.NsecToTimespec(int64(timeout))
		r.arg = getEventsArg{ts: uint64(uintptr(unsafe.Pointer(&r.ts)))}
		arg, argSize = unsafe.Pointer(&r.arg), int(unsafe.Sizeof(r.arg))
		flags |= enterExtArg
	}
	for {
		fd, rflags := r.enterFd()
		n, err := r.lc.IoUringEnter(fd, toSubmit, wait, flags|rflags, arg, argSize)
		switch {
		case err == nil:
			return n, nil
		case err == syscall.ETIME:
			return n, nil
		case err == syscall.EINTR && flags&enterGetEvents != 0:
			// A signal ended the wait; what was submitted was consumed.
			return int(toSubmit - (r.sqeTail - atomic.LoadUint32(r.sqHead))), nil
		case err == syscall.EINTR:
			continue
		}
		return 0, os.NewSyscallError(uringEnterName, err)
	}
}

// enterFd returns the fd io_uring_enter names the ring by, and the flag
// that goes with a registered ring's index.
func (r *Ring) enterFd() (int, uint32) {
	if r.ringIndex >= 0 {
		return r.ringIndex, enterRegisteredRing
	}
	return r.fd, 0
}

// needFlush reports whether completions wait in the kernel for an enter
// with GETEVENTS: overflowed ones, or deferred task work.
func (r *Ring) needFlush() bool {
	return atomic.LoadUint32(r.sqFlags)&(sqCQOverflow|sqTaskrun) != 0
}

// RingBusy reports whether err, from Submit or a wait, says that the
// kernel cannot take more entries now (EAGAIN, EBUSY, ENOMEM): the
// entries stay queued; reap completions and submit again.
func RingBusy(err error) bool {
	return errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EBUSY) || errors.Is(err, syscall.ENOMEM)
}

// Ready returns how many completions wait in the completion queue.
func (r *Ring) Ready() uint32 {
	if r.closed {
		return 0
	}
	return atomic.LoadUint32(r.cqTail) - atomic.LoadUint32(r.cqHead)
}

// PeekCQE returns the oldest completion in the queue without consuming
// it, or nil if there is none. The entry is valid until Advance.
func (r *Ring) PeekCQE() *CQE {
	if r.closed {
		return nil
	}
	head := atomic.LoadUint32(r.cqHead)
	if atomic.LoadUint32(r.cqTail) == head {
		return nil
	}
	return &r.cqes[head&r.cqMask]
}

// Advance consumes the n oldest completions, giving their slots back to
// the kernel.
func (r *Ring) Advance(n uint32) {
	if r.closed {
		return
	}
	atomic.StoreUint32(r.cqHead, atomic.LoadUint32(r.cqHead)+n)
}

// Reap copies up to len(dst) completions from the queue into dst,
// consumes them, and returns how many. When the queue is empty but the
// kernel holds completions back because it overflowed, it flushes them
// with an io_uring_enter(GETEVENTS) first. It never waits. Completions
// whose task work has not run yet (with COOP_TASKRUN or DEFER_TASKRUN)
// come with the next Submit or wait, which run it.
func (r *Ring) Reap(dst []CQE) (int, error) {
	if r.closed {
		return 0, File.ErrClosed()
	}
	n := r.copyCQEs(dst)
	if n == 0 && len(dst) > 0 && atomic.LoadUint32(r.sqFlags)&sqCQOverflow != 0 {
		r.overflowFlushes++
		fd, rflags := r.enterFd()
		_, err := r.lc.IoUringEnter(fd, 0, 0, enterGetEvents|rflags, nil, 0)
		switch err {
		case nil, syscall.EINTR, syscall.EAGAIN, syscall.EBUSY, syscall.ENOMEM:
			// Interrupted or busy: what did come is reaped; the rest
			// waits for the next Reap or wait.
		default:
			return 0, os.NewSyscallError(uringEnterName, err)
		}
		n = r.copyCQEs(dst)
	}
	return n, nil
}

// copyCQEs copies and consumes what is in the queue.
func (r *Ring) copyCQEs(dst []CQE) int {
	head := atomic.LoadUint32(r.cqHead)
	tail := atomic.LoadUint32(r.cqTail) // acquire: the entries are written
	n := min(tail-head, uint32(len(dst)))
	for i := range n {
		dst[i] = r.cqes[(head+i)&r.cqMask]
	}
	atomic.StoreUint32(r.cqHead, head+n)
	return int(n)
}

// Overflowed returns how many completions the kernel had to drop because
// the completion queue was full and it could not keep them (the CQ ring's
// overflow counter). Kernels with IORING_FEAT_NODROP keep them instead
// and Reap delivers them late, so this stays 0 unless memory ran out.
func (r *Ring) Overflowed() uint32 {
	if r.closed {
		return 0
	}
	return atomic.LoadUint32(r.cqOverflow)
}

// OverflowFlushes returns how many times Reap or an enter found that the
// completion queue had overflowed (completions held in the kernel for
// want of room) and flushed it: a sign that the queue is small for the
// load.
func (r *Ring) OverflowFlushes() uint64 { return r.overflowFlushes }

// RegisterEventFD makes the kernel signal the eventfd fd whenever it posts
// a completion (IORING_REGISTER_EVENTFD), so a loop waiting elsewhere (in
// epoll) learns of completions. Errors are *os.SyscallError
// "io_uring_register".
func (r *Ring) RegisterEventFD(fd int) error {
	efd := int32(fd)
	return r.register(registerEventFD, unsafe.Pointer(&efd), 1)
}

// UnregisterEventFD undoes RegisterEventFD.
func (r *Ring) UnregisterEventFD() error { return r.register(unregisterEventFD, nil, 0) }

// RegisterBuffers registers bufs with the kernel
// (IORING_REGISTER_BUFFERS), so OpReadFixed, OpWriteFixed and sends with
// RecvSendFixedBuf name them by index and skip mapping them per call. The
// buffers must stay allocated until UnregisterBuffers or Close.
func (r *Ring) RegisterBuffers(bufs [][]byte) error {
	if len(bufs) == 0 {
		return os.NewSyscallError(uringRegisterName, syscall.EINVAL)
	}
	iovs := make([]unix.Iovec, len(bufs))
	for i, b := range bufs {
		if len(b) == 0 {
			return os.NewSyscallError(uringRegisterName, syscall.EINVAL)
		}
		iovs[i].Base = &b[0]
		iovs[i].SetLen(len(b))
	}
	return r.register(registerBuffers, unsafe.Pointer(&iovs[0]), uint32(len(iovs)))
}

// UnregisterBuffers undoes RegisterBuffers.
func (r *Ring) UnregisterBuffers() error { return r.register(unregisterBuffers, nil, 0) }

// register makes one io_uring_register call.
func (r *Ring) register(op uint32, arg unsafe.Pointer, n uint32) error {
	if r.closed {
		return File.ErrClosed()
	}
	if _, err := r.lc.IoUringRegister(r.fd, op, arg, n); err != nil {
		return os.NewSyscallError(uringRegisterName, err)
	}
	return nil
}

// Close unmaps the queues and closes the ring fd; the kernel cancels the
// operations still in flight. After Close, GetSQE and PeekCQE return nil,
// the counts 0, and the calls that reach the kernel fs.ErrClosed. Close does not wait for them: when they
// use Go memory, cancel them and reap their completions first (eloop
// does). A second Close is fs.ErrClosed.
func (r *Ring) Close() error {
	if r.closed {
		return File.ErrClosed()
	}
	if r.ringIndex >= 0 {
		upd := rsrcUpdate{offset: uint32(r.ringIndex)}
		r.lc.IoUringRegister(r.fd, unregisterRingFDs, unsafe.Pointer(&upd), 1)
		r.ringIndex = -1
	}
	r.closed = true
	r.unmap()
	if err := r.lc.Close(r.fd); err != nil {
		return os.NewSyscallError(closeName, err)
	}
	return nil
}
