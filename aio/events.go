package aio

import (
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Events is a set of readiness conditions: what to wait for when given to
// Add or Modify, what happened when found in an Event. Its bits are aio's
// own; toLinux and fromLinux map them to and from epoll(7)'s EPOLL* bits,
// so no code depends on the two sets having equal values.
type Events uint32

// Conditions to wait for, and the options of a registration. Read, Write
// and RDHUP are also reported; EdgeTriggered and OneShot never are.
const (
	// Read: the fd has data to read, a connection to accept, or is at
	// end of file (EPOLLIN).
	Read Events = 1 << iota
	// Write: a write would not block (EPOLLOUT). A connecting socket
	// becomes writable when the connection succeeds or fails.
	Write
	// RDHUP: the peer of a stream socket shut down its writing side, or
	// closed (EPOLLRDHUP): reads will reach end of stream.
	RDHUP
	// HUP: hang-up, always reported, never asked for (EPOLLHUP): the
	// write end of a pipe was closed, or both directions of a socket are
	// shut down.
	HUP
	// Error: an error is pending, always reported, never asked for
	// (EPOLLERR): the read end of a pipe was closed, or a socket has a
	// pending error (read it with Nonblock.ConnectResult).
	Error
	// EdgeTriggered reports a condition once each time it arises, not
	// for as long as it holds (EPOLLET): read or write until the call
	// would block before waiting again.
	EdgeTriggered
	// OneShot disables the registration after one event, until Modify
	// arms it again (EPOLLONESHOT).
	OneShot
)

// allEvents is every bit Add and Modify accept.
const allEvents = Read | Write | RDHUP | HUP | Error | EdgeTriggered | OneShot

// eventBits pairs each Events bit with its epoll bit and its name.
var eventBits = [...]struct {
	ev    Events
	linux uint32
	name  string
}{
	{Read, unix.EPOLLIN, "Read"},
	{Write, unix.EPOLLOUT, "Write"},
	{RDHUP, unix.EPOLLRDHUP, "RDHUP"},
	{HUP, unix.EPOLLHUP, "HUP"},
	{Error, unix.EPOLLERR, "Error"},
	{EdgeTriggered, unix.EPOLLET, "EdgeTriggered"},
	{OneShot, unix.EPOLLONESHOT, "OneShot"},
}

// toLinux returns the epoll_event.events bits of ev. Bits outside
// allEvents are dropped; Add and Modify refuse them before calling it.
func toLinux(ev Events) uint32 {
	var bits uint32
	for _, b := range eventBits {
		if ev&b.ev != 0 {
			bits |= b.linux
		}
	}
	return bits
}

// fromLinux returns the Events of the epoll_event.events bits the kernel
// reported. Bits aio never asks for (EPOLLPRI, EPOLLMSG, …) are dropped.
// It is on Wait's path for every event, so it tests the five reportable
// bits directly instead of walking eventBits.
func fromLinux(bits uint32) Events {
	var ev Events
	if bits&unix.EPOLLIN != 0 {
		ev |= Read
	}
	if bits&unix.EPOLLOUT != 0 {
		ev |= Write
	}
	if bits&unix.EPOLLRDHUP != 0 {
		ev |= RDHUP
	}
	if bits&unix.EPOLLHUP != 0 {
		ev |= HUP
	}
	if bits&unix.EPOLLERR != 0 {
		ev |= Error
	}
	return ev
}

// String returns the names of the bits of ev joined by "|", such as
// "Read|RDHUP"; "0" for none, and unknown bits in hexadecimal.
func (ev Events) String() string {
	if ev == 0 {
		return "0"
	}
	var names []string
	for _, b := range eventBits {
		if ev&b.ev != 0 {
			names = append(names, b.name)
		}
	}
	if rest := ev &^ allEvents; rest != 0 {
		names = append(names, "0x"+strconv.FormatUint(uint64(rest), 16))
	}
	return strings.Join(names, "|")
}

// An Event is one fd's readiness, as Wait reports it.
type Event struct {
	// Token is the value given to Add or Modify for the fd, all 64
	// bits of it.
	Token uint64
	// Events holds what is ready: Read, Write, RDHUP, HUP, Error.
	Events Events
}

// setToken stores token in the 64-bit data field of ev (the Fd and Pad
// fields of x/sys/unix's EpollEvent, on every architecture), low half
// first.
func setToken(ev *unix.EpollEvent, token uint64) {
	ev.Fd = int32(uint32(token))
	ev.Pad = int32(uint32(token >> 32))
}

// getToken returns the token setToken stored in ev.
func getToken(ev *unix.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}
