package supervise

import (
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/sys"
)

// pumpChunk is what a pump moves at a time.
const pumpChunk = 64 << 10

// A writePump is the state of a pump into a file of ours, for barrier:
// drained counts the bytes it has written to the file; mu is held from
// its read of the pipe until the bytes are in the file, so that under mu
// drained plus what the pipe holds is all the program has written.
type writePump struct {
	h       int // the pipe's read end
	drained uint64
}

// pumps are the write pumps running, under mu; cond is signalled
// as they drain.
type pumps struct {
	mu   sync.Mutex
	cond *sync.Cond
	set  map[*writePump]bool
}

// barrier (TIOCINQ is FIONREAD) waits until every byte the program has written into a write
// pump's pipe so far is in the file: a shell's "cmd > /mnt/img/f; cat
// /mnt/img/f" must find all of cmd's output. It runs before each call the
// other kernel answers for a path or a file, while write pumps exist.
func (s *supervisor) barrier() {
	s.pumps.mu.Lock()
	defer s.pumps.mu.Unlock()
	for wp := range s.pumps.set {
		var n int32
		if _, _, e := sys.SyscallOn(sys.Host(), unix.SYS_IOCTL, uintptr(wp.h), unix.TIOCINQ, uintptr(unsafe.Pointer(&n)), 0, 0, 0); e != 0 || n == 0 {
			continue
		}
		target := wp.drained + uint64(n)
		for wp.drained < target && s.pumps.set[wp] {
			s.pumps.cond.Wait()
		}
	}
}

// pump copies the other kernel's file fd into host pipe end h, or with
// toFile h into fd, until either side is done, then closes both.
func (s *supervisor) pump(fd, h int, toFile bool) {
	defer s.host.Close(h)
	defer sys.SyscallOn(s.k, unix.SYS_CLOSE, uintptr(fd), 0, 0, 0, 0, 0)
	buf := make([]byte, pumpChunk)
	if toFile {
		s.pumpToFile(fd, h, buf)
		return
	}
	for {
		n, _, e := sys.SyscallOn(s.k, unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0, 0, 0)
		if e == syscall.EINTR {
			continue
		}
		if e != 0 || n == 0 || writeAll(sys.Host(), h, buf[:n], 0) != 0 {
			return // the end of the file, or the program closed its end (EPIPE)
		}
	}
}

// pumpToFile moves what the program writes into pipe h to fd: it waits
// for data outside the lock, then reads and writes it under the lock.
func (s *supervisor) pumpToFile(fd, h int, buf []byte) {
	wp := &writePump{h: h}
	s.pumps.mu.Lock()
	s.pumps.set[wp] = true
	s.pumps.mu.Unlock()
	s.writePumps.Add(1)
	defer func() {
		s.pumps.mu.Lock()
		delete(s.pumps.set, wp)
		s.pumps.cond.Broadcast()
		s.pumps.mu.Unlock()
		s.writePumps.Add(-1)
	}()
	pfd := []unix.PollFd{{Fd: int32(h), Events: unix.POLLIN}}
	for {
		if _, _, e := sys.SyscallOn(sys.Host(), unix.SYS_PPOLL, uintptr(unsafe.Pointer(&pfd[0])), 1, 0, 0, 0, 0); e != 0 && e != syscall.EINTR {
			return
		}
		s.pumps.mu.Lock()
		n, _, e := sys.SyscallOn(sys.Host(), unix.SYS_READ, uintptr(h), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0, 0, 0)
		if e == 0 && n > 0 {
			if writeAll(s.k, fd, buf[:n], 0) != 0 {
				n = 0 // the file is full: the program gets EPIPE
			}
			wp.drained += uint64(n)
			s.pumps.cond.Broadcast()
		}
		s.pumps.mu.Unlock()
		if e == syscall.EAGAIN || e == syscall.EINTR {
			continue
		}
		if e != 0 || n == 0 {
			return // every writer has closed the pipe
		}
	}
}

// writeAll writes b to fd on kernel k, looping over short writes: with
// write(2), or, if flags is not 0, with send(2) and those flags (a
// socket's MSG_NOSIGNAL).
func writeAll(k sys.Kernel, fd int, b []byte, flags int) sys.Errno {
	for len(b) > 0 {
		trap, a4 := uintptr(unix.SYS_WRITE), uintptr(0)
		if flags != 0 {
			trap, a4 = unix.SYS_SENDTO, uintptr(flags)
		}
		w, _, e := sys.SyscallOn(k, trap, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), a4, 0, 0)
		if e == syscall.EINTR {
			continue
		}
		if e != 0 {
			return e
		}
		b = b[w:]
	}
	return 0
}
