package isolated

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/sys/host"
)

// The channel is one memfd mapped MAP_SHARED by the parent and the child:
// a header page, then Slots slots of slotSize bytes. A slot belongs to one
// calling goroutine of the parent for the length of a call, and has one
// serving goroutine in the child. Both sides spin briefly, then yield,
// then sleep in futex(2) on the word they wait for; a side about to sleep
// says so in the slot (its *Sleeping word) and the other side wakes it
// only then, so a busy channel makes no futex calls at all.
const (
	// Slots is the number of calls that can be in the child at once; a
	// 257th concurrent caller waits for a slot.
	Slots    = 256
	slotSize = 128
	headSize = 4096
	chanSize = headSize + Slots*slotSize
	// errSize is the room in the header for the child's boot error.
	errSize = 2048
)

// header is the channel's first page. The child writes state, errLen,
// errText and beats; the parent writes nothing in it.
type header struct {
	magic  uint64
	state  uint32 // childBooting, childReady, childFailed
	errLen uint32
	beats  uint64 // the child's heartbeat, advanced while LKL answers
	_      [40]byte
	errMsg [errSize]byte
}

const (
	chanMagic    = 0x676b69736f6c3031 // "gkisol01"
	childBooting = 0
	childReady   = 1
	childFailed  = 2
)

// slot is one call's mailbox. The parent writes trap and args, then
// advances req; the child answers in r1, r2 and errno, then sets resp to
// req. The sequence numbers (never 0 after the first call) make a stale
// answer impossible to mistake for a new one. respDead in resp means the
// child is gone.
type slot struct {
	req            uint32
	resp           uint32
	childSleeping  uint32
	parentSleeping uint32
	trap           uint64
	args           [6]uint64
	r1, r2         uint64
	errno          uint64
	// A host copy's (hostcopy.go) progress, written by the child and read
	// by the deadline watcher: hostWait is 1 while the child waits on the
	// host fd, progress counts the chunks done. Both are 0 between calls.
	hostWait, progress uint32
	_                  [slotSize - 104]byte
}

const respDead = ^uint32(0)

// Control requests: traps that are not system call numbers (those are
// below 1024). ctlHalt asks the child to halt; ctlProbe runs the test
// hook (probeHook) in the child; ctlDisk adds, unmounts or lists disks
// (disks_lkl.go); ctlBatch runs a batch of calls (batch.go).
const (
	ctlHalt  = 1 << 32
	ctlProbe = ctlHalt + 1
	ctlDisk  = ctlHalt + 2
	ctlBatch = ctlHalt + 3
)

// Spin budgets: a waiter first polls its word this many times, then
// yields the CPU (sched_yield, so that the other side, which may share the
// core, runs) up to this many times (see await), then sleeps in futex(2). Measured on the
// loaded 2-core machine (BenchmarkGetpid, docs/isolation.md): 4000 polls
// and 8 runtime.Gosched gave a 7.1-7.7 µs p50, 4000 polls and 8
// sched_yield 3.7-4.0 µs, 500 and 64 sched_yield 2.0-2.2 µs; 40000 polls
// 23 µs (a long spin keeps the core from the other side).
const (
	spinPolls  = 500
	spinYields = 64
)

func init() {
	if unsafe.Sizeof(slot{}) != slotSize || unsafe.Sizeof(header{}) > headSize {
		panic("isolated: channel layout")
	}
}

// channel is the mapped memfd.
type channel struct {
	h    host.Caller
	fd   int     // the memfd (the parent's, until the child has it)
	mem  uintptr // the mapping's address: chanSize bytes, not Go memory
	head *header
}

// newChannel makes and maps a fresh memfd.
func newChannel(h host.Caller) (*channel, error) {
	name, _ := unix.BytePtrFromString("gokernel-isolated")
	fd, _, e := host.Call(h, unix.SYS_MEMFD_CREATE, uintptr(unsafe.Pointer(name)), unix.MFD_CLOEXEC, 0, 0, 0, 0)
	if e != 0 {
		return nil, fmt.Errorf("isolated: memfd_create: %w", e)
	}
	if _, _, e := host.Call(h, unix.SYS_FTRUNCATE, fd, chanSize, 0, 0, 0, 0); e != 0 {
		host.Close(h, int(fd))
		return nil, fmt.Errorf("isolated: ftruncate: %w", e)
	}
	c, err := mapChannel(h, int(fd))
	if err != nil {
		host.Close(h, int(fd))
		return nil, err
	}
	c.head.magic = chanMagic
	return c, nil
}

// mapChannel maps the memfd fd, made by newChannel.
func mapChannel(h host.Caller, fd int) (*channel, error) {
	addr, _, e := host.Call(h, unix.SYS_MMAP, 0, chanSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED, uintptr(fd), 0)
	if e != 0 {
		return nil, fmt.Errorf("isolated: mmap: %w", e)
	}
	c := &channel{h: h, fd: fd, mem: addr}
	c.head = (*header)(c.at(0))
	return c, nil
}

// at returns the address off bytes into the mapping as a pointer. The
// mapping is not Go memory: the GC neither scans nor moves it, and it
// lives until unmap, after which nothing touches it. (Converting through
// a *unsafe.Pointer keeps vet's unsafeptr check, meant for Go memory,
// quiet.)
func (c *channel) at(off uintptr) unsafe.Pointer {
	a := c.mem + off
	return *(*unsafe.Pointer)(unsafe.Pointer(&a))
}

func (c *channel) slot(i int) *slot { return (*slot)(c.at(headSize + uintptr(i)*slotSize)) }

// unmap releases the mapping and the fd.
func (c *channel) unmap() {
	host.Call(c.h, unix.SYS_MUNMAP, c.mem, chanSize, 0, 0, 0, 0)
	if c.fd >= 0 {
		host.Close(c.h, c.fd)
		c.fd = -1
	}
}

// futex(2) operations on a word shared between processes (not the
// _PRIVATE ones).
const (
	futexWaitOp = 0
	futexWakeOp = 1
)

// futexWait sleeps while *w == old (the shared, not private, futex: the
// word is in memory two processes map).
func futexWait(h host.Caller, w *uint32, old uint32) {
	host.Call(h, unix.SYS_FUTEX, uintptr(unsafe.Pointer(w)), futexWaitOp, uintptr(old), 0, 0, 0)
}

// futexWake wakes every sleeper on w.
func futexWake(h host.Caller, w *uint32) {
	host.Call(h, unix.SYS_FUTEX, uintptr(unsafe.Pointer(w)), futexWakeOp, 1<<30, 0, 0, 0)
}

// await waits until *w != old and returns the new value: it polls, yields
// up to *budget times, then sleeps on the futex with *sleeping set so the
// writer knows to wake it. The budget adapts to the waiter's recent past
// (one budget per waiter): a wait that ended while yielding doubles it (up
// to spinYields), one that had to sleep halves it. A caller of quick calls
// keeps spinning; a child worker whose caller spends its time elsewhere
// (demo cp-out writing files on the host) soon sleeps at once instead of
// taking the CPU from both processes' real work.
func await(h host.Caller, w *uint32, old uint32, sleeping *uint32, budget *int32) uint32 {
	for range spinPolls {
		if v := atomic.LoadUint32(w); v != old {
			return v
		}
	}
	n := *budget
	for i := int32(0); i < n; i++ {
		host.Call(h, unix.SYS_SCHED_YIELD, 0, 0, 0, 0, 0, 0)
		if v := atomic.LoadUint32(w); v != old {
			*budget = min(max(2*n, 1), spinYields)
			return v
		}
	}
	*budget = n / 2
	for {
		atomic.StoreUint32(sleeping, 1)
		if v := atomic.LoadUint32(w); v != old {
			atomic.StoreUint32(sleeping, 0)
			return v
		}
		futexWait(h, w, old)
		atomic.StoreUint32(sleeping, 0)
		if v := atomic.LoadUint32(w); v != old {
			return v
		}
	}
}

// publish stores v in *w and wakes the other side if it sleeps there.
// Both stores and the load are sequentially consistent: either the
// sleeper sees v before it sleeps, or the writer sees its flag.
func publish(h host.Caller, w *uint32, v uint32, sleeping *uint32) {
	atomic.StoreUint32(w, v)
	if atomic.LoadUint32(sleeping) != 0 {
		futexWake(h, w)
	}
}

// slots hands out slot numbers, last freed first: the child's goroutine
// for the slot used last is the one most likely still spinning.
type slots struct {
	mu     sync.Mutex
	cond   sync.Cond
	free   []int
	seq    [Slots]uint32   // the last request number of each slot
	budget [Slots]int32    // the spin budget of each slot's caller (await)
	calls  [Slots]inflight // the call in each slot, for the per-call deadline; guarded by mu
	serial uint64          // the calls made, guarded by mu
	// clock is a coarse clock the deadline watcher advances once a tick:
	// a call's start is read from it, not from the system clock, which
	// would cost every call a clock read.
	clock atomic.Int64
}

// inflight is a call in the child, as the per-call deadline sees it.
type inflight struct {
	trap   uintptr
	fd     uintptr // its first argument (a file descriptor for read and write)
	start  int64   // clock at the start
	serial uint64  // which call it is (0: the slot is free)
	slot   int     // the slot it is in
	// progress is a host copy's progress word when its clock last
	// started (hostcopy.go).
	progress uint32
}

func newSlots() *slots {
	s := &slots{free: make([]int, 0, Slots)}
	s.cond.L = &s.mu
	for i := Slots - 1; i >= 0; i-- {
		s.free = append(s.free, i)
		s.budget[i] = spinYields
	}
	return s
}

// get takes a free slot for a call of trap with first argument a1 and
// gives it its request number.
func (s *slots) get(trap, a1 uintptr) (i int, seq uint32) {
	s.mu.Lock()
	for len(s.free) == 0 {
		s.cond.Wait()
	}
	i = s.free[len(s.free)-1]
	s.free = s.free[:len(s.free)-1]
	seq = s.seq[i] + 1
	if seq == respDead || seq == 0 {
		seq = 1
	}
	s.seq[i] = seq
	s.serial++
	s.calls[i] = inflight{trap: trap, fd: a1, start: s.clock.Load(), serial: s.serial, slot: i}
	s.mu.Unlock()
	return i, seq
}

// restart starts the clock of call c again, if it is still in its slot,
// and records its progress word p.
func (s *slots) restart(c inflight, p uint32) {
	s.mu.Lock()
	if s.calls[c.slot].serial == c.serial {
		s.calls[c.slot].start = s.clock.Load()
		s.calls[c.slot].progress = p
	}
	s.mu.Unlock()
}

func (s *slots) put(i int) {
	s.mu.Lock()
	s.free = append(s.free, i)
	s.calls[i] = inflight{}
	s.mu.Unlock()
	s.cond.Signal()
}

// overdue returns the calls in the child for more than n ticks of clock
// (the start is read before the tick that follows it: n+1 ticks of clock
// are more than n ticks of time).
func (s *slots) overdue(n int64) []inflight {
	var late []inflight
	now := s.clock.Load()
	s.mu.Lock()
	for i := range s.calls {
		if c := s.calls[i]; c.serial != 0 && now-c.start > n {
			late = append(late, c)
		}
	}
	s.mu.Unlock()
	return late
}

// errDead is what call returns when the child died while (or before) the
// call was in it.
var errDead = errors.New("isolated: the kernel's process died")

// call makes one request on slot i and waits for the answer. The answer
// is the child's: an errno it returns is checked to be one (else EIO).
func (c *channel) call(i int, seq uint32, trap uintptr, a [6]uintptr, budget *int32) (r1, r2 uintptr, e syscall.Errno, err error) {
	s := c.slot(i)
	s.trap = uint64(trap)
	for j, v := range a {
		s.args[j] = uint64(v)
	}
	publish(c.h, &s.req, seq, &s.childSleeping)
	// The slot's resp holds the previous request's number (or respDead).
	v := atomic.LoadUint32(&s.resp)
	for v != seq && v != respDead {
		v = await(c.h, &s.resp, v, &s.parentSleeping, budget)
	}
	if v == respDead {
		return 0, 0, 0, errDead
	}
	r1, r2, en := uintptr(s.r1), uintptr(s.r2), s.errno
	if en >= 4096 {
		return 0, 0, syscall.EIO, nil // not an errno: the child is not behaving
	}
	return r1, r2, syscall.Errno(en), nil
}

// kill marks every slot dead and wakes every waiter, once the child can
// no longer write (it has exited).
func (c *channel) kill() {
	for i := range Slots {
		s := c.slot(i)
		atomic.StoreUint32(&s.resp, respDead)
		futexWake(c.h, &s.resp)
	}
}
