package aio

// Readiness through io_uring: an OpPollAdd's mask and its completion's
// result are poll(2) bits, which are epoll(7)'s; these convert them to and
// from Events, so a dispatcher that polls through a Ring (unet's) feeds
// PollDesc.Notify exactly as one reading a Poller does.

// PollMask returns the poll bits of ev for PrepPollAdd: Read, Write,
// RDHUP, HUP and Error; the options (EdgeTriggered, OneShot) are
// dropped, since a multishot poll reports each wake-up by itself.
func PollMask(ev Events) uint32 {
	return toLinux(ev &^ (EdgeTriggered | OneShot))
}

// PollEvents returns the Events of a poll completion's result (CQE.Res
// when it is not negative).
func PollEvents(res int32) Events { return fromLinux(uint32(res)) }
