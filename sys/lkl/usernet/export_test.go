package usernet

import (
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// Link is the link a Network puts on its socketpair end, which the tests'
// guest netstack uses on the other end: a write that finds the socketpair
// full waits for room, as LKL's does.
type Link = waitLink

// NewLink puts a Link on ep, the fdbased endpoint on fd.
func NewLink(fd int, ep stack.LinkEndpoint) *Link { return newWaitLink(nil, fd, ep) }

// Teardown lets the tests stop their guest netstack the way a Network
// stops its own (NIC id 1, as the guest's), on the host kernel.
func Teardown(s *stack.Stack, l *Link) { teardown(nil, s, l) }

// NewLinkWait is NewLink with a bound other than linkWait.
func NewLinkWait(fd int, ep stack.LinkEndpoint, wait time.Duration) *Link {
	l := newWaitLink(nil, fd, ep)
	l.wait = wait
	return l
}

// Waits returns how many writes found the socketpair full.
func (l *Link) Waits() int64 { return l.waits.Load() }

// Stop makes the link's waiting writers give up, as teardown does.
func (l *Link) Stop() { l.stop() }
