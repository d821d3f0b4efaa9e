package aio

import (
	"syscall"
	"unsafe"
)

// The io_uring ABI (include/uapi/linux/io_uring.h) that
// golang.org/x/sys/unix does not define: the one place in gokernel where
// its numbers and layouts are written down. The setup parameters are
// libgo.IoUringParams, next to the system call that takes them.

// Opcodes of a submission queue entry (enum io_uring_op). A kernel runs
// the ones its probe reports (see [Ring.Probe]).
const (
	OpNop            uint8 = 0
	OpReadv          uint8 = 1
	OpWritev         uint8 = 2
	OpFsync          uint8 = 3
	OpReadFixed      uint8 = 4
	OpWriteFixed     uint8 = 5
	OpPollAdd        uint8 = 6
	OpPollRemove     uint8 = 7
	OpSyncFileRange  uint8 = 8
	OpSendmsg        uint8 = 9
	OpRecvmsg        uint8 = 10
	OpTimeout        uint8 = 11
	OpTimeoutRemove  uint8 = 12
	OpAccept         uint8 = 13
	OpAsyncCancel    uint8 = 14
	OpLinkTimeout    uint8 = 15
	OpConnect        uint8 = 16
	OpFallocate      uint8 = 17
	OpOpenat         uint8 = 18
	OpClose          uint8 = 19
	OpFilesUpdate    uint8 = 20
	OpStatx          uint8 = 21
	OpRead           uint8 = 22
	OpWrite          uint8 = 23
	OpFadvise        uint8 = 24
	OpMadvise        uint8 = 25
	OpSend           uint8 = 26
	OpRecv           uint8 = 27
	OpOpenat2        uint8 = 28
	OpEpollCtl       uint8 = 29
	OpSplice         uint8 = 30
	OpProvideBuffers uint8 = 31
	OpRemoveBuffers  uint8 = 32
	OpTee            uint8 = 33
	OpShutdown       uint8 = 34
	OpRenameat       uint8 = 35
	OpUnlinkat       uint8 = 36
	OpMkdirat        uint8 = 37
	OpSymlinkat      uint8 = 38
	OpLinkat         uint8 = 39
	OpMsgRing        uint8 = 40
	OpSocket         uint8 = 45
	OpSendZC         uint8 = 47
	OpSendmsgZC      uint8 = 48
)

// Flags of a submission queue entry (SQE.Flags, IOSQE_*).
const (
	SQEFixedFile      uint8 = 1 << 0 // Fd is an index into the registered files
	SQEIODrain        uint8 = 1 << 1 // start only after every earlier entry completed
	SQEIOLink         uint8 = 1 << 2 // the next entry starts when this one succeeded
	SQEIOHardlink     uint8 = 1 << 3 // the next entry starts when this one completed
	SQEAsync          uint8 = 1 << 4 // always run in the kernel's worker threads
	SQEBufferSelect   uint8 = 1 << 5 // take the buffer from the group in BufIndex
	SQECQESkipSuccess uint8 = 1 << 6 // post no completion unless the operation fails
)

// Flags of a completion queue entry (CQE.Flags, IORING_CQE_F_*); the
// upper 16 bits hold the buffer ID with CQEFBuffer.
const (
	CQEFBuffer       uint32 = 1 << 0 // a provided buffer was used; its ID is Flags>>16
	CQEFMore         uint32 = 1 << 1 // the (multishot) operation goes on posting
	CQEFSockNonempty uint32 = 1 << 2 // the socket had more data after this receive
	CQEFNotif        uint32 = 1 << 3 // a zero-copy send's notification: the buffer is free
	CQEFBufMore      uint32 = 1 << 4 // an incremental buffer stays the kernel's: later data goes after this
	cqeBufferShift          = 16
)

// Setup flags (libgo.IoUringParams.Flags, IORING_SETUP_*).
const (
	SetupIOPoll       uint32 = 1 << 0
	SetupSQPoll       uint32 = 1 << 1
	SetupSQAff        uint32 = 1 << 2
	SetupCQSize       uint32 = 1 << 3
	SetupClamp        uint32 = 1 << 4
	SetupAttachWQ     uint32 = 1 << 5
	SetupRDisabled    uint32 = 1 << 6
	SetupSubmitAll    uint32 = 1 << 7
	SetupCoopTaskrun  uint32 = 1 << 8
	SetupTaskrunFlag  uint32 = 1 << 9
	SetupSQE128       uint32 = 1 << 10
	SetupCQE32        uint32 = 1 << 11
	SetupSingleIssuer uint32 = 1 << 12
	SetupDeferTaskrun uint32 = 1 << 13
	SetupNoMmap       uint32 = 1 << 14
	SetupRegisteredFD uint32 = 1 << 15
	SetupNoSQArray    uint32 = 1 << 16
)

// Features the kernel reports at setup (libgo.IoUringParams.Features,
// IORING_FEAT_*).
const (
	FeatSingleMmap     uint32 = 1 << 0
	FeatNoDrop         uint32 = 1 << 1
	FeatSubmitStable   uint32 = 1 << 2
	FeatRWCurPos       uint32 = 1 << 3
	FeatCurPersonality uint32 = 1 << 4
	FeatFastPoll       uint32 = 1 << 5
	FeatPoll32Bits     uint32 = 1 << 6
	FeatSQPollNonfixed uint32 = 1 << 7
	FeatExtArg         uint32 = 1 << 8
	FeatNativeWorkers  uint32 = 1 << 9
	FeatRsrcTags       uint32 = 1 << 10
	FeatCQESkip        uint32 = 1 << 11
	FeatLinkedFile     uint32 = 1 << 12
	FeatRegRegRing     uint32 = 1 << 13
	FeatRecvSendBundle uint32 = 1 << 14
)

// Flags of io_uring_enter(2) (IORING_ENTER_*).
const (
	enterGetEvents      uint32 = 1 << 0
	enterSQWakeup       uint32 = 1 << 1
	enterExtArg         uint32 = 1 << 3
	enterRegisteredRing uint32 = 1 << 4
)

// Flags the kernel sets in the submission ring (IORING_SQ_*).
const (
	sqNeedWakeup uint32 = 1 << 0 // the SQPOLL thread sleeps: wake it with IORING_ENTER_SQ_WAKEUP
	sqCQOverflow uint32 = 1 << 1 // completions wait in the kernel for room in the ring
	sqTaskrun    uint32 = 1 << 2 // work waits for an enter with GETEVENTS
)

// The offsets to mmap the rings at (IORING_OFF_*).
const (
	offSQRing = 0
	offCQRing = 0x8000000
	offSQEs   = 0x10000000
)

// Opcodes of io_uring_register(2) (IORING_REGISTER_*) that aio uses.
const (
	registerBuffers    uint32 = 0
	unregisterBuffers  uint32 = 1
	registerEventFD    uint32 = 4
	unregisterEventFD  uint32 = 5
	registerProbe      uint32 = 8
	registerRingFDs    uint32 = 20
	unregisterRingFDs  uint32 = 21
	registerPbufRing   uint32 = 22
	unregisterPbufRing uint32 = 23
	probeOpSupported   uint16 = 1 << 0 // IO_URING_OP_SUPPORTED
	probeOps                  = 256
	maxBufRingEntries         = 1 << 15
)

// Operation flags in SQE.Ioprio, SQE.OpFlags or SQE.Len, by operation.
const (
	// RecvMultishot (IORING_RECV_MULTISHOT, in Ioprio): a receive that
	// posts a completion per message until it fails or is cancelled.
	RecvMultishot uint16 = 1 << 1
	// RecvSendPollFirst (IORING_RECVSEND_POLL_FIRST, in Ioprio): wait for
	// readiness before the first try.
	RecvSendPollFirst uint16 = 1 << 0
	// RecvSendFixedBuf (IORING_RECVSEND_FIXED_BUF, in Ioprio): the buffer
	// of a send is registered buffer BufIndex.
	RecvSendFixedBuf uint16 = 1 << 2
	// AcceptMultishot (IORING_ACCEPT_MULTISHOT, in Ioprio): an accept that
	// posts a completion per connection.
	AcceptMultishot uint16 = 1 << 0
	// PollAddMulti (IORING_POLL_ADD_MULTI, in Len of OpPollAdd): a poll
	// that posts a completion per readiness event.
	PollAddMulti uint32 = 1 << 0
	// FsyncDatasync (IORING_FSYNC_DATASYNC, in OpFlags of OpFsync).
	FsyncDatasync uint32 = 1 << 0
	// CancelAll (IORING_ASYNC_CANCEL_ALL, in OpFlags of OpAsyncCancel):
	// cancel every match, not only the first.
	CancelAll uint32 = 1 << 0
	// CancelFD (IORING_ASYNC_CANCEL_FD): match on the fd in Fd, not on
	// user data.
	CancelFD uint32 = 1 << 1
	// CancelAny (IORING_ASYNC_CANCEL_ANY): match every operation.
	CancelAny uint32 = 1 << 2
)

// An SQE is a submission queue entry, struct io_uring_sqe: one operation
// for the kernel. Get one from [Ring.GetSQE], fill it with a Prep method
// (or by hand), set UserData, and [Ring.Submit]. The unions of the C
// struct are named after their most common member.
type SQE struct {
	Opcode      uint8  // the operation, Op*
	Flags       uint8  // SQE* flags
	Ioprio      uint16 // I/O priority, or the operation's flags (RecvMultishot, AcceptMultishot, …)
	Fd          int32  // the fd, or the index of a registered file with SQEFixedFile
	Off         uint64 // offset, or addr2
	Addr        uint64 // buffer or pointer argument
	Len         uint32 // length, or count of iovecs
	OpFlags     uint32 // rw_flags, msg_flags, accept_flags, open_flags, cancel_flags, …
	UserData    uint64 // given back in the completion
	BufIndex    uint16 // registered buffer index, or buffer group with SQEBufferSelect
	Personality uint16
	SpliceFdIn  int32 // splice_fd_in, file_index, or addr_len
	Addr3       uint64
	_           uint64
}

// A CQE is a completion queue entry, struct io_uring_cqe: the result of
// one operation, or one result of a multishot operation.
type CQE struct {
	UserData uint64 // the SQE's UserData
	Res      int32  // the result: >= 0 as the system call would return, or -errno
	Flags    uint32 // CQEF* flags
}

// Err returns the error of the operation, a syscall.Errno, or nil if Res
// is not negative.
func (c CQE) Err() error {
	if c.Res < 0 {
		return syscall.Errno(-c.Res)
	}
	return nil
}

// More reports whether the operation will post more completions
// (CQEFMore): a multishot operation that goes on.
func (c CQE) More() bool { return c.Flags&CQEFMore != 0 }

// BufMore reports whether the kernel keeps using the rest of the
// incremental provided buffer this completion used (CQEFBufMore): the
// buffer is not to be recycled yet, and the next data in it follows this.
func (c CQE) BufMore() bool { return c.Flags&CQEFBufMore != 0 }

// BufferID returns the ID of the provided buffer the operation used, and
// whether it used one (CQEFBuffer).
func (c CQE) BufferID() (id uint16, ok bool) {
	return uint16(c.Flags >> cqeBufferShift), c.Flags&CQEFBuffer != 0
}

// getEventsArg is struct io_uring_getevents_arg, the extended argument of
// an enter with IORING_ENTER_EXT_ARG.
type getEventsArg struct {
	sigmask     uint64
	sigmaskSize uint32
	minWaitUsec uint32
	ts          uint64
}

// probeHeader is struct io_uring_probe without its ops; probeOp is
// struct io_uring_probe_op.
type (
	probeHeader struct {
		lastOp uint8
		opsLen uint8
		_      uint16
		_      [3]uint32
	}
	probeOp struct {
		op    uint8
		_     uint8
		flags uint16
		_     uint32
	}
)

// bufReg is struct io_uring_buf_reg, IORING_REGISTER_PBUF_RING's argument;
// ringBuf is struct io_uring_buf, an entry of a provided buffer ring.
type (
	bufReg struct {
		ringAddr    uint64
		ringEntries uint32
		bgid        uint16
		flags       uint16
		_           [3]uint64
	}
	ringBuf struct {
		addr uint64
		len  uint32
		bid  uint16
		resv uint16 // the ring's tail, in entry 0
	}
)

// rsrcUpdate is struct io_uring_rsrc_update, IORING_REGISTER_RING_FDS's
// argument.
type rsrcUpdate struct {
	offset uint32
	_      uint32
	data   uint64
}

// The sizes the kernel checks.
var _ = [1]struct{}{}[unsafe.Sizeof(SQE{})-64]
var _ = [1]struct{}{}[unsafe.Sizeof(CQE{})-16]
var _ = [1]struct{}{}[unsafe.Sizeof(getEventsArg{})-24]
var _ = [1]struct{}{}[unsafe.Sizeof(probeHeader{})-16]
var _ = [1]struct{}{}[unsafe.Sizeof(probeOp{})-8]
var _ = [1]struct{}{}[unsafe.Sizeof(bufReg{})-40]
var _ = [1]struct{}{}[unsafe.Sizeof(ringBuf{})-16]
var _ = [1]struct{}{}[unsafe.Sizeof(rsrcUpdate{})-16]
