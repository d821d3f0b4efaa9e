package usernet_test

import (
	"testing"
	"time"

	"github.com/gokernel/gokernel/sys/lkl/usernet"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/link/fdbased"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// linkPair is a socketpair with a Link (waiting up to wait) on the fdbased
// endpoint of one end, attached to an empty netstack; the other end, peer,
// is read by the test.
func linkPair(t *testing.T, wait time.Duration) (ep stack.LinkEndpoint, l *usernet.Link, peer int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	ep, err = fdbased.New(&fdbased.Options{FDs: []int{fds[1]}, MTU: 1500, EthernetHeader: true})
	if err != nil {
		t.Fatal(err)
	}
	l = usernet.NewLinkWait(fds[1], ep, wait)
	s := stack.New(stack.Options{})
	if e := s.CreateNIC(1, l); e != nil {
		t.Fatal(e)
	}
	// A read that finds nothing fails after 10 s instead of hanging.
	tv := unix.NsecToTimeval((10 * time.Second).Nanoseconds())
	if err := unix.SetsockoptTimeval(fds[0], unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		usernet.Teardown(s, l)
		unix.Close(fds[0])
	})
	return ep, l, fds[0]
}

// frames returns n frames of 1,514 bytes, each starting with its number.
func frames(n int) stack.PacketBufferList {
	var pkts stack.PacketBufferList
	for i := range n {
		b := make([]byte, 1514)
		b[0], b[1] = byte(i>>8), byte(i)
		pkts.PushBack(stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(b)}))
	}
	return pkts
}

// nFrames is more frames than a socketpair's send buffer holds (at most
// net.core.wmem_max, 208 KiB by default, counting each frame's overhead).
const nFrames = 1000

// TestLinkWaitsForRoom writes more frames than the socketpair holds to a
// peer that reads only once the writer is waiting: fdbased alone drops
// what does not fit (ErrWouldBlock; each lost frame of a TCP stream cost
// a retransmission timeout, which stalled TestNAT/tcp_via_gateway under
// load), the Link waits and every frame arrives, in order. Stopped, the
// Link's waiting writer gives up.
func TestLinkWaitsForRoom(t *testing.T) {
	t.Run("fdbased drops", func(t *testing.T) {
		ep, _, _ := linkPair(t, time.Minute)
		pkts := frames(nFrames)
		defer pkts.DecRef()
		k, err := ep.WritePackets(pkts)
		if _, full := err.(*tcpip.ErrWouldBlock); !full || k >= nFrames {
			t.Fatalf("fdbased wrote %d of %d frames into an unread socketpair (err %v), want ErrWouldBlock", k, nFrames, err)
		}
	})
	t.Run("link waits", func(t *testing.T) {
		_, l, peer := linkPair(t, time.Minute)
		type result struct {
			k   int
			err tcpip.Error
		}
		done := make(chan result, 1)
		go func() {
			pkts := frames(nFrames)
			defer pkts.DecRef()
			k, err := l.WritePackets(pkts)
			done <- result{k, err}
		}()
		waitFull(t, l)
		buf := make([]byte, 2048)
		for i := range nFrames {
			k, err := unix.Read(peer, buf)
			if err != nil || k != 1514 || int(buf[0])<<8|int(buf[1]) != i {
				t.Fatalf("frame %d: read %d bytes, %v (numbered %d)", i, k, err, int(buf[0])<<8|int(buf[1]))
			}
		}
		if r := <-done; r.k != nFrames || r.err != nil {
			t.Fatalf("WritePackets: %d of %d frames, %v", r.k, nFrames, r.err)
		}
	})
	t.Run("stop", func(t *testing.T) {
		_, l, _ := linkPair(t, time.Minute)
		done := make(chan int, 1)
		go func() {
			pkts := frames(nFrames)
			defer pkts.DecRef()
			k, _ := l.WritePackets(pkts)
			done <- k
		}()
		waitFull(t, l)
		l.Stop()
		select {
		case k := <-done:
			if k >= nFrames {
				t.Fatalf("wrote all %d frames into an unread socketpair", k)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a writer waiting for room did not give up when the link stopped")
		}
	})
}

// waitFull waits until a write on l has found the socketpair full.
func waitFull(t *testing.T, l *usernet.Link) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); l.Waits() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the writer never found the socketpair full")
		}
	}
}
