package usernet

import (
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/link/nested"
	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/gokernel/gokernel/sys/host"
)

// linkWait bounds how long a frame waits for room in the socketpair.
// A guest that has read nothing for that long is stuck or gone, and the
// frame is dropped as if lost. The bound also breaks the one cycle of
// waits there can be: two netstacks on the two ends (the tests' guest)
// whose link goroutines both write inline (an ARP or reset reply) into
// full buffers while neither reads.
const linkWait = time.Second

// linkPoll is the slice of linkWait one poll(2) waits, after which a
// waiting writer sees that the link stops.
const linkPoll = 50 * time.Millisecond

// waitLink sits on top of the fdbased link on fd and makes a write that
// finds the socketpair full wait until the guest has read (poll for
// POLLOUT), for up to linkWait, instead of dropping the frame: fdbased
// writes without blocking and drops what does not fit. LKL's side of
// the socketpair waits the same way (virtio_net_fd's EAGAIN and poll).
// Dropped frames cost TCP a retransmission timeout each, 200 ms and
// doubling: a transfer in both directions at once into a guest slower to
// read than the netstack to send (a loaded machine) lost tens of frames
// and stalled for seconds (TestNAT/tcp_via_gateway, 10 s). Waiting is
// backpressure: the netstack's endpoint waits, and with it the copy
// from the host socket.
type waitLink struct {
	nested.Endpoint
	h       host.Caller
	fd      int
	child   stack.LinkEndpoint
	wait    time.Duration // linkWait; the tests' may be longer
	mu      sync.RWMutex  // writers in poll hold it for reading; stop takes it, then fd may close
	stopped atomic.Bool
	waits   atomic.Int64 // writes that found the socketpair full
}

func newWaitLink(h host.Caller, fd int, child stack.LinkEndpoint) *waitLink {
	l := &waitLink{h: h, fd: fd, child: child, wait: linkWait}
	l.Init(child, l)
	return l
}

// WritePackets implements stack.LinkEndpoint: it writes pkts, waiting
// for room while the socketpair is full.
func (l *waitLink) WritePackets(pkts stack.PacketBufferList) (int, tcpip.Error) {
	all := pkts.AsSlice()
	sent := 0
	var deadline time.Time
	for {
		var rest stack.PacketBufferList
		for _, p := range all[sent:] {
			rest.PushBack(p)
		}
		k, err := l.Endpoint.WritePackets(rest)
		sent += k
		if _, full := err.(*tcpip.ErrWouldBlock); !full || sent == len(all) {
			return sent, err
		}
		if deadline.IsZero() {
			l.waits.Add(1)
			deadline = time.Now().Add(l.wait)
		}
		if !l.waitWritable(deadline) {
			return sent, err
		}
	}
}

// waitWritable waits until fd is writable, and reports false when the
// deadline passes or the link stops first.
func (l *waitLink) waitWritable(deadline time.Time) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	for !l.stopped.Load() {
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		ts := unix.NsecToTimespec(min(left, linkPoll).Nanoseconds())
		pfd := unix.PollFd{Fd: int32(l.fd), Events: unix.POLLOUT}
		k, _, e := host.Call(l.h, unix.SYS_PPOLL, uintptr(unsafe.Pointer(&pfd)), 1, uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
		switch {
		case e == syscall.EINTR:
		case e != 0:
			return false
		case k == 1:
			// POLLOUT, or an error or hangup that the write will report.
			return true
		}
	}
	return false
}

// stop makes waiting writers give up (their frames are dropped) and
// returns once none polls fd any more, so that fd may be closed.
func (l *waitLink) stop() {
	l.stopped.Store(true)
	l.mu.Lock() // held while a poller polls: wait for them
	defer l.mu.Unlock()
}
