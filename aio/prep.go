package aio

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// The Prep methods fill an SQE for one operation, as liburing's
// io_uring_prep_* do, leaving UserData and Flags to the caller (they keep
// flags the caller set before, except where an operation needs one).
// Every memory argument must stay allocated and unchanged until the
// operation's completion is reaped (see Ring).

// set fills the common fields. //go:uintptrescapes makes every
// uintptr(unsafe.Pointer(p)) its callers write escape to the heap, so no
// buffer handed to the kernel lives on a goroutine stack that may move.
//
//go:uintptrescapes
func (s *SQE) set(op uint8, fd int, addr uintptr, n uint32, off uint64) {
	s.Opcode, s.Fd, s.Addr, s.Len, s.Off = op, int32(fd), uint64(addr), n, off
}

// bytesAddr returns the address of b's first byte, or 0 for an empty b.
func bytesAddr(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(&b[0])
}

// PrepNop makes s an operation that does nothing and completes with 0.
func (s *SQE) PrepNop() { s.set(OpNop, -1, 0, 0, 0) }

// PrepRead makes s a read(2)/pread(2) of fd into b at offset off; off -1
// reads at (and advances) the file position.
func (s *SQE) PrepRead(fd int, b []byte, off int64) {
	s.set(OpRead, fd, uintptr(bytesAddr(b)), uint32(len(b)), uint64(off))
}

// PrepWrite makes s a write(2)/pwrite(2) of b to fd at offset off; off -1
// writes at (and advances) the file position.
func (s *SQE) PrepWrite(fd int, b []byte, off int64) {
	s.set(OpWrite, fd, uintptr(bytesAddr(b)), uint32(len(b)), uint64(off))
}

// PrepReadv makes s a preadv(2) of fd into iovs at offset off (-1: the
// file position). The iovecs and their buffers stay the caller's.
func (s *SQE) PrepReadv(fd int, iovs []unix.Iovec, off int64) {
	s.set(OpReadv, fd, uintptr(unsafe.Pointer(unsafe.SliceData(iovs))), uint32(len(iovs)), uint64(off))
}

// PrepWritev makes s a pwritev(2) of iovs to fd at offset off (-1: the
// file position).
func (s *SQE) PrepWritev(fd int, iovs []unix.Iovec, off int64) {
	s.set(OpWritev, fd, uintptr(unsafe.Pointer(unsafe.SliceData(iovs))), uint32(len(iovs)), uint64(off))
}

// PrepReadFixed makes s a read of fd into b, which lies inside registered
// buffer index (Ring.RegisterBuffers), at offset off.
func (s *SQE) PrepReadFixed(fd int, b []byte, off int64, index uint16) {
	s.set(OpReadFixed, fd, uintptr(bytesAddr(b)), uint32(len(b)), uint64(off))
	s.BufIndex = index
}

// PrepWriteFixed makes s a write of b, which lies inside registered buffer
// index, to fd at offset off.
func (s *SQE) PrepWriteFixed(fd int, b []byte, off int64, index uint16) {
	s.set(OpWriteFixed, fd, uintptr(bytesAddr(b)), uint32(len(b)), uint64(off))
	s.BufIndex = index
}

// PrepSend makes s a send(2) of b on socket fd with MSG_* flags.
func (s *SQE) PrepSend(fd int, b []byte, flags int) {
	s.set(OpSend, fd, uintptr(bytesAddr(b)), uint32(len(b)), 0)
	s.OpFlags = uint32(flags)
}

// PrepSendFixed makes s a send of b, which lies inside registered buffer
// index, on socket fd.
func (s *SQE) PrepSendFixed(fd int, b []byte, flags int, index uint16) {
	s.PrepSend(fd, b, flags)
	s.Ioprio |= RecvSendFixedBuf
	s.BufIndex = index
}

// PrepSendZC makes s a zero-copy send of b on socket fd (OpSendZC, Linux
// 6.0): the kernel sends from b itself and posts two completions, the
// result (with CQEFMore) and then a notification (CQEFNotif) once b is no
// longer used; b must stay unchanged until that second one.
func (s *SQE) PrepSendZC(fd int, b []byte, flags int) {
	s.set(OpSendZC, fd, uintptr(bytesAddr(b)), uint32(len(b)), 0)
	s.OpFlags = uint32(flags)
}

// PrepRecv makes s a recv(2) into b from socket fd with MSG_* flags.
func (s *SQE) PrepRecv(fd int, b []byte, flags int) {
	s.set(OpRecv, fd, uintptr(bytesAddr(b)), uint32(len(b)), 0)
	s.OpFlags = uint32(flags)
}

// PrepRecvMultishot makes s a multishot receive from socket fd into the
// provided buffers of group (a BufRing): one completion per chunk
// received, each naming its buffer (CQE.BufferID) and flagged CQEFMore
// while it goes on; a completion without CQEFMore ends it (0 bytes at
// end of stream, an error, ENOBUFS when the group ran out of buffers, or
// ECANCELED).
func (s *SQE) PrepRecvMultishot(fd int, group uint16, flags int) {
	s.set(OpRecv, fd, 0, 0, 0)
	s.OpFlags = uint32(flags)
	s.Ioprio |= RecvMultishot
	s.Flags |= SQEBufferSelect
	s.BufIndex = group
}

// PrepAccept makes s an accept4(2) on listening socket fd with SOCK_*
// flags, not returning the peer's address.
func (s *SQE) PrepAccept(fd int, flags int) {
	s.set(OpAccept, fd, 0, 0, 0)
	s.OpFlags = uint32(flags)
}

// PrepAcceptMultishot makes s an accept that posts one completion per
// connection (the new fd in Res), with CQEFMore while it goes on.
func (s *SQE) PrepAcceptMultishot(fd int, flags int) {
	s.PrepAccept(fd, flags)
	s.Ioprio |= AcceptMultishot
}

// PrepPollAdd makes s a poll of fd for the POLL* events (one completion
// with the events that are ready), or with multi a multishot poll.
func (s *SQE) PrepPollAdd(fd int, events uint32, multi bool) {
	s.set(OpPollAdd, fd, 0, 0, 0)
	s.OpFlags = events
	if multi {
		s.Len = PollAddMulti
	}
}

// PrepClose makes s a close(2) of fd.
func (s *SQE) PrepClose(fd int) { s.set(OpClose, fd, 0, 0, 0) }

// PrepShutdown makes s a shutdown(2) of socket fd (SHUT_RD, SHUT_WR,
// SHUT_RDWR).
func (s *SQE) PrepShutdown(fd int, how int) { s.set(OpShutdown, fd, 0, uint32(how), 0) }

// PrepFsync makes s an fsync(2) of fd, or fdatasync(2) with
// FsyncDatasync in flags.
func (s *SQE) PrepFsync(fd int, flags uint32) {
	s.set(OpFsync, fd, 0, 0, 0)
	s.OpFlags = flags
}

// PrepOpenat2 makes s an openat2(2) of path, NUL-terminated (see
// unix.BytePtrFromString), relative to dirfd, as how says; the new fd is
// the completion's Res.
func (s *SQE) PrepOpenat2(dirfd int, path *byte, how *unix.OpenHow) {
	s.set(OpOpenat2, dirfd, uintptr(unsafe.Pointer(path)), uint32(unsafe.Sizeof(*how)), uint64(uintptr(unsafe.Pointer(how))))
}

// PrepStatx makes s a statx(2) of path (NUL-terminated) relative to dirfd
// with AT_* flags and STATX_* mask, into st.
func (s *SQE) PrepStatx(dirfd int, path *byte, flags int, mask uint32, st *unix.Statx_t) {
	s.set(OpStatx, dirfd, uintptr(unsafe.Pointer(path)), mask, uint64(uintptr(unsafe.Pointer(st))))
	s.OpFlags = uint32(flags)
}

// PrepCancel makes s cancel the operation(s) submitted with user data
// target (OpAsyncCancel); with CancelAll every one of them. The
// cancelled operations complete with ECANCELED (or their result, when
// they finished first); s completes with 0, or ENOENT when nothing
// matched, or EALREADY when the match is running and may still complete.
func (s *SQE) PrepCancel(target uint64, flags uint32) {
	s.set(OpAsyncCancel, -1, uintptr(target), 0, 0)
	s.OpFlags = flags
}

// PrepCancelFD makes s cancel the operations on fd (CancelFD, Linux 5.19);
// add CancelAll to flags for all of them.
func (s *SQE) PrepCancelFD(fd int, flags uint32) {
	s.set(OpAsyncCancel, fd, 0, 0, 0)
	s.OpFlags = flags | CancelFD
}
