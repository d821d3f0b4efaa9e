package sys

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"

	"golang.org/x/sys/unix"
)

// AnyTrap in [Fault.Trap] matches every system call.
const AnyTrap = ^uintptr(0)

// A Fault says which calls an [Injector] makes fail, and how.
//
// A call matches when Trap is its number (or AnyTrap). Among matching calls,
// the fault fires on the Nth one if Nth > 0; otherwise with Probability if
// Probability > 0; otherwise on every one. Count, if > 0, caps how many times
// it fires in all.
//
// When it fires, either the call fails with Errno without reaching the
// kernel (so it has no side effect), or, with Short > 0, the call is made
// with its byte count cut to Short, as a short read or write would be. Short
// applies to read, write, pread64, pwrite64, sendto and recvfrom, and only to
// calls asking for more than Short bytes.
type Fault struct {
	Trap        uintptr
	Nth         int
	Probability float64
	Count       int
	Errno       Errno
	Short       int
}

// An Injection is one firing of a fault.
type Injection struct {
	Fault int     // index of the fault in NewInjector's list
	Trap  uintptr // the call's number
	Call  int     // the call's position among calls matching the fault (1 = first)
	Errno Errno   // the errno returned, or 0 for a short transfer
	Short int     // the byte count the call was cut to, or 0
}

// An Injector is a Kernel that answers through an inner kernel but makes the
// calls chosen by its faults fail. It is deterministic for a given seed and
// sequence of calls, and safe for concurrent use.
type Injector struct {
	inner Kernel

	mu     sync.Mutex
	faults []faultState
	rng    *rand.Rand
	fired  []Injection
}

type faultState struct {
	Fault
	seen, fired int
}

// shortable lists the calls whose third argument is a byte count.
var shortable = map[uintptr]bool{
	unix.SYS_READ: true, unix.SYS_WRITE: true, unix.SYS_PREAD64: true,
	unix.SYS_PWRITE64: true, unix.SYS_SENDTO: true, unix.SYS_RECVFROM: true,
}

var errFault = errors.New("sys: invalid fault")

// NewInjector returns a Kernel that answers through k except where faults
// fire. seed drives the Probability draws. A fault that sets neither Errno
// nor Short, sets both, or asks for Short on a call without a byte count is
// an error.
func NewInjector(k Kernel, seed uint64, faults ...Fault) (*Injector, error) {
	in := &Injector{inner: k, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	for i, f := range faults {
		switch {
		case (f.Errno == 0) == (f.Short <= 0):
			return nil, fmt.Errorf("%w %d: set exactly one of Errno and Short", errFault, i)
		case f.Short > 0 && !shortable[f.Trap]:
			return nil, fmt.Errorf("%w %d: Short needs read, write, pread64, pwrite64, sendto or recvfrom, not %s", errFault, i, SyscallName(f.Trap))
		case f.Probability < 0 || f.Probability > 1 || f.Nth < 0 || f.Count < 0:
			return nil, fmt.Errorf("%w %d: Nth, Count and Probability must be non-negative, Probability at most 1", errFault, i)
		}
		in.faults = append(in.faults, faultState{Fault: f})
	}
	return in, nil
}

// Name returns the inner kernel's name.
func (in *Injector) Name() string { return in.inner.Name() }

// Unwrap returns the kernel faults are injected into.
func (in *Injector) Unwrap() Kernel { return in.inner }

// Fired returns a copy of the injections made so far, in order.
func (in *Injector) Fired() []Injection {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]Injection(nil), in.fired...)
}

// Syscall answers through the inner kernel unless a fault fires.
func (in *Injector) Syscall(trap, a1, a2, a3, a4, a5, a6 uintptr) (r1, r2 uintptr, err Errno) {
	inj, ok := in.decide(trap, a3)
	switch {
	case !ok:
	case inj.Errno != 0:
		return ^uintptr(0), 0, inj.Errno
	default:
		a3 = uintptr(inj.Short)
	}
	return in.inner.Syscall(trap, a1, a2, a3, a4, a5, a6)
}

// decide finds the first fault that fires for this call and records it.
func (in *Injector) decide(trap, count uintptr) (Injection, bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for i := range in.faults {
		f := &in.faults[i]
		if f.Trap != trap && f.Trap != AnyTrap {
			continue
		}
		if f.Short > 0 && count <= uintptr(f.Short) {
			continue // nothing to shorten
		}
		f.seen++
		if f.Count > 0 && f.fired >= f.Count {
			continue
		}
		switch {
		case f.Nth > 0:
			if f.seen != f.Nth {
				continue
			}
		case f.Probability > 0:
			if in.rng.Float64() >= f.Probability {
				continue
			}
		}
		f.fired++
		inj := Injection{Fault: i, Trap: trap, Call: f.seen, Errno: f.Errno, Short: f.Short}
		in.fired = append(in.fired, inj)
		return inj, true
	}
	return Injection{}, false
}

// IsHost reports whether the kernel faults are injected into is the host's
// (HostKernel).
func (in *Injector) IsHost() bool { return IsHost(in.inner) }
