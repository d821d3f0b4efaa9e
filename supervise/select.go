//go:build amd64

package supervise

import (
	"encoding/binary"
	"math/bits"
	"slices"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/sys"
)

// select and pselect6 with fds of ours. The three fd sets are bitmaps of
// nfds bits in the process's memory; an fd of ours (fdBase up) is far
// past FD_SETSIZE, so only a program that sizes its own sets reaches
// here with one (libc's FD_SET and Python's select.select refuse such an
// fd before the call). The supervisor reads two parts of each set: the
// host fds, up to the process's fd table size (Linux ignores the bits
// past it), and ours, up to the highest number the process has got;
// turns them into a poll set, waits as poll does on both kernels
// (pollFDs), and writes back those two parts with the ready bits, and
// the time left. pselect6's signal mask is not applied (as ppoll's).

// The poll events that make an fd ready for each set, as Linux's
// fs/select.c has them (POLLIN_SET, POLLOUT_SET, POLLEX_SET), with the
// bits x/sys/unix does not name from <asm-generic/poll.h>.
const (
	pollRdNorm = 0x40
	pollRdBand = 0x80
	pollWrNorm = 0x100
	pollWrBand = 0x200

	pollInSet  = pollRdNorm | pollRdBand | unix.POLLIN | unix.POLLHUP | unix.POLLERR
	pollOutSet = pollWrBand | pollWrNorm | unix.POLLOUT | unix.POLLERR
	pollExSet  = unix.POLLPRI
)

// fdSetPart is one contiguous part, [lo, hi) in fd numbers (lo a
// multiple of 64), of the process's three fd sets: the words of each
// (nil for a NULL set).
type fdSetPart struct {
	lo, hi int
	sets   [3][]uint64
}

// readFDSets reads the fds [lo, hi) of the sets at addrs (0: none).
func (c *call) readFDSets(addrs [3]uintptr, lo, hi int) (fdSetPart, sys.Errno) {
	part := fdSetPart{lo: lo, hi: hi}
	if hi <= lo {
		return part, 0
	}
	words := (hi - lo + 63) / 64
	for i, a := range addrs {
		if a == 0 {
			continue
		}
		b := make([]byte, words*8)
		// The last word may reach past nfds's bytes: read only those
		// (Linux reads nfds bits rounded up to a long too).
		if e := readMem(c.tid, a+uintptr(lo/8), b[:(hi-lo+7)/8]); e != 0 {
			return part, e
		}
		w := make([]uint64, words)
		for j := range w {
			w[j] = binary.LittleEndian.Uint64(b[8*j:])
		}
		if r := (hi - lo) % 64; r != 0 {
			w[words-1] &= 1<<r - 1
		}
		part.sets[i] = w
	}
	return part, 0
}

// writeFDSets writes part's sets back to addrs, as readFDSets read them.
func (c *call) writeFDSets(addrs [3]uintptr, part fdSetPart) sys.Errno {
	for i, a := range addrs {
		w := part.sets[i]
		if a == 0 || w == nil {
			continue
		}
		b := make([]byte, 8*len(w))
		for j, x := range w {
			binary.LittleEndian.PutUint64(b[8*j:], x)
		}
		if e := writeMem(c.tid, a+uintptr(part.lo/8), b[:(part.hi-part.lo+7)/8]); e != 0 {
			return e
		}
	}
	return 0
}

// pollSet appends to pfds an entry for every fd set in part, with the
// events its sets ask for.
func (part fdSetPart) pollSet(pfds []unix.PollFd) []unix.PollFd {
	events := [3]int16{pollInSet, pollOutSet, pollExSet}
	for j := range (part.hi - part.lo + 63) / 64 {
		var any uint64
		for _, w := range part.sets {
			if w != nil {
				any |= w[j]
			}
		}
		for any != 0 {
			b := bits.TrailingZeros64(any)
			any &^= 1 << b
			p := unix.PollFd{Fd: int32(part.lo + 64*j + b)}
			for i, w := range part.sets {
				if w != nil && w[j]&(1<<b) != 0 {
					p.Events |= events[i]
				}
			}
			pfds = append(pfds, p)
		}
	}
	return pfds
}

// result keeps in part's sets only the fds pfds says are ready for them,
// and returns how many bits are left set (Linux counts an fd once per
// set).
func (part fdSetPart) result(pfds []unix.PollFd) int {
	events := [3]int16{pollInSet, pollOutSet, pollExSet}
	var asked [3][]uint64
	for i, w := range part.sets {
		asked[i] = slices.Clone(w)
		clear(w)
	}
	n := 0
	for _, p := range pfds {
		if int(p.Fd) < part.lo || int(p.Fd) >= part.hi {
			continue
		}
		j, b := (int(p.Fd)-part.lo)/64, uint(int(p.Fd)-part.lo)%64
		for i, w := range part.sets {
			if w != nil && asked[i][j]&(1<<b) != 0 && p.Revents&events[i] != 0 {
				w[j] |= 1 << b
				n++
			}
		}
	}
	return n
}

// maxFD returns one more than the highest child number of the process's
// fds of ours (fdBase when it has none).
func (p *proc) maxFD() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	hi := fdBase
	for n := range p.fds {
		hi = max(hi, n+1)
	}
	return hi
}

// selectFDs answers select and pselect6 whose sets reach our fds.
func (c *call) selectFDs() result {
	nfds := int(int32(uint32(c.args[0])))
	if nfds < 0 {
		return result{err: syscall.EINVAL}
	}
	if nfds <= fdBase {
		return cont
	}
	addrs := [3]uintptr{c.args[1], c.args[2], c.args[3]}
	timeout := time.Duration(-1)
	if c.args[4] != 0 {
		var sec, nsec int64
		if c.nr == unix.SYS_SELECT {
			var tv unix.Timeval
			if e := readMem(c.tid, c.args[4], unsafe.Slice((*byte)(unsafe.Pointer(&tv)), unsafe.Sizeof(tv))); e != 0 {
				return result{err: e}
			}
			sec, nsec = tv.Sec, tv.Usec*1000
			if tv.Usec < 0 || tv.Usec >= 1e6 {
				return result{err: syscall.EINVAL}
			}
		} else {
			var ts unix.Timespec
			if e := readMem(c.tid, c.args[4], unsafe.Slice((*byte)(unsafe.Pointer(&ts)), unsafe.Sizeof(ts))); e != 0 {
				return result{err: e}
			}
			sec, nsec = ts.Sec, ts.Nsec
			if ts.Nsec < 0 || ts.Nsec >= 1e9 {
				return result{err: syscall.EINVAL}
			}
		}
		if sec < 0 {
			return result{err: syscall.EINVAL}
		}
		timeout = time.Duration(min(sec, int64(time.Duration(1<<62)/time.Second)))*time.Second + time.Duration(nsec)
	}
	// The host part: up to the process's fd table size, as Linux clips
	// nfds to it; ours: up to the highest number it has got.
	hostMax, err := c.s.fdTableSize(c.tid)
	if err != nil {
		return result{err: syscall.ESRCH}
	}
	host, e := c.readFDSets(addrs, 0, min(hostMax, fdBase))
	if e != 0 {
		return result{err: e}
	}
	ours, e := c.readFDSets(addrs, fdBase, min(nfds, c.p.maxFD()))
	if e != 0 {
		return result{err: e}
	}
	pfds := ours.pollSet(nil)
	if len(pfds) == 0 {
		return cont // none of ours set: the host's alone
	}
	pfds = host.pollSet(pfds)
	start := time.Now()
	if _, e := c.pollFDs(pfds, timeout); e != 0 {
		return result{err: e}
	}
	for _, p := range pfds {
		if p.Revents&unix.POLLNVAL != 0 {
			return result{err: syscall.EBADF}
		}
	}
	n := host.result(pfds) + ours.result(pfds)
	if e := c.writeFDSets(addrs, host); e != 0 {
		return result{err: e}
	}
	if e := c.writeFDSets(addrs, ours); e != 0 {
		return result{err: e}
	}
	if timeout >= 0 {
		// The time left, as Linux writes it back (a failure to is
		// ignored, as Linux ignores it).
		left := max(timeout-time.Since(start), 0)
		if n == 0 {
			left = 0
		}
		if c.nr == unix.SYS_SELECT {
			tv := unix.NsecToTimeval(left.Nanoseconds())
			writeMem(c.tid, c.args[4], unsafe.Slice((*byte)(unsafe.Pointer(&tv)), unsafe.Sizeof(tv)))
		} else {
			ts := unix.NsecToTimespec(left.Nanoseconds())
			writeMem(c.tid, c.args[4], unsafe.Slice((*byte)(unsafe.Pointer(&ts)), unsafe.Sizeof(ts)))
		}
	}
	return result{val: uintptr(n)}
}
