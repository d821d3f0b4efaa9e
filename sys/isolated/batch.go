package isolated

import (
	"fmt"
	"runtime"
	"syscall"
	"unsafe"
)

// Batches: several system calls in one round trip to the child. A call's
// round trip costs ~2 µs (docs/isolation.md), against ~0.1-0.4 µs for the
// call itself in LKL; demo cp-out's walker makes four calls per file
// (openat, fstat, pread, close), so the round trips, not LKL, set its
// speed. A batch is generic: each call is a system call number and six
// words, as for Syscall, and an argument may be the result of an earlier
// call of the batch (the fd openat returned, for the fstat, pread and
// close that follow). The child runs the calls in order, as it runs
// single calls (the same buffers for the data calls), and writes the
// results back. No call's semantics are known here.

// MaxBatch is the most calls a batch may hold.
const MaxBatch = 16

// A Call is one system call of a batch, and its result.
type Call struct {
	Trap uintptr
	Args [6]uintptr
	// From[j] = i+1 makes Args[j] the result R1 of the batch's call i,
	// which must come before this one; 0 leaves Args[j] as it is.
	From [6]uint8
	// Always runs the call even after an earlier call failed (a close
	// after a failed read); a call whose From names a failed call is
	// cancelled whatever Always says.
	Always bool
	_      [1]byte

	R1    uintptr
	Errno syscall.Errno // ECANCELED: not run, an earlier call failed
}

func init() {
	if unsafe.Sizeof(Call{}) != 80 {
		panic("isolated: Call layout")
	}
}

// Batch runs calls in the child in one round trip, in order, and fills
// in each call's R1 and Errno. After a call fails, the later ones are
// not run (Errno ECANCELED) unless they have Always set. The error is
// for the batch as a whole: a bad From, too many calls, or the kernel
// halted or dead; the calls' own failures are in their Errno.
func (k *Kernel) Batch(calls []Call) error {
	if len(calls) == 0 {
		return nil
	}
	if len(calls) > MaxBatch {
		return fmt.Errorf("isolated: a batch of %d calls (at most %d)", len(calls), MaxBatch)
	}
	for i, c := range calls {
		if c.Trap >= ctlHalt {
			return fmt.Errorf("isolated: batch call %d: %d is no system call number", i, c.Trap)
		}
		for _, f := range c.From {
			if int(f) > i {
				return fmt.Errorf("isolated: batch call %d takes the result of call %d, not an earlier one", i, int(f)-1)
			}
		}
	}
	_, _, e := k.call(ctlBatch, [6]uintptr{uintptr(unsafe.Pointer(&calls[0])), uintptr(len(calls))})
	runtime.KeepAlive(calls)
	if e != 0 {
		return fmt.Errorf("isolated: batch: %w", e)
	}
	return nil
}
