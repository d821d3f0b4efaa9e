package libgo

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Memory mappings and io_uring: the calls aio's Ring is made of.

// Mmap maps length bytes of fd at offset (or anonymous memory, with
// MAP_ANONYMOUS and fd -1) with mmap(2), at an address the kernel picks,
// and returns the mapping as a slice. The memory is outside the Go heap:
// release it with Munmap, never by dropping the slice. A length <= 0 is
// EINVAL.
func (l *Libc) Mmap(fd int, offset int64, length, prot, flags int) ([]byte, error) {
	if length <= 0 {
		return nil, syscall.EINVAL
	}
	r, err := l.call(unix.SYS_MMAP, 0, uintptr(length), uintptr(prot), uintptr(flags), uintptr(fd), uintptr(offset))
	if err != nil {
		return nil, err
	}
	// The address is outside the Go heap, so converting it to a pointer
	// is safe; the indirection keeps vet's unsafeptr check quiet about a
	// conversion it cannot prove.
	p := *(*unsafe.Pointer)(unsafe.Pointer(&r))
	return unsafe.Slice((*byte)(p), length), nil
}

// Munmap removes a mapping Mmap made, with munmap(2). b must be the whole
// slice Mmap returned; an empty b is EINVAL.
func (l *Libc) Munmap(b []byte) error {
	if len(b) == 0 {
		return syscall.EINVAL
	}
	_, err := l.call(unix.SYS_MUNMAP, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), 0, 0, 0, 0)
	return err
}

// IoUringSqringOffsets is struct io_sqring_offsets: where the submission
// ring's fields are in its mapping.
type IoUringSqringOffsets struct {
	Head, Tail, RingMask, RingEntries, Flags, Dropped, Array, Resv1 uint32
	UserAddr                                                        uint64
}

// IoUringCqringOffsets is struct io_cqring_offsets: where the completion
// ring's fields are in its mapping.
type IoUringCqringOffsets struct {
	Head, Tail, RingMask, RingEntries, Overflow, Cqes, Flags, Resv1 uint32
	UserAddr                                                        uint64
}

// IoUringParams is struct io_uring_params, io_uring_setup(2)'s argument
// and result (golang.org/x/sys/unix does not define it).
type IoUringParams struct {
	SqEntries    uint32
	CqEntries    uint32
	Flags        uint32
	SqThreadCPU  uint32
	SqThreadIdle uint32
	Features     uint32
	WqFd         uint32
	Resv         [3]uint32
	SqOff        IoUringSqringOffsets
	CqOff        IoUringCqringOffsets
}

// IoUringSetup makes an io_uring instance with entries submission queue
// entries and the flags and sizes in p, with io_uring_setup(2); the kernel
// fills in the rest of p (sizes, features, the rings' offsets). The ring
// fd is close-on-exec. A kernel without io_uring says ENOSYS.
func (l *Libc) IoUringSetup(entries uint32, p *IoUringParams) (fd int, err error) {
	r, err := l.call(unix.SYS_IO_URING_SETUP, uintptr(entries), uintptr(unsafe.Pointer(p)), 0, 0, 0, 0)
	if err != nil {
		return -1, err
	}
	return int(r), nil
}

// IoUringEnter submits toSubmit entries of ring fd and, with
// IORING_ENTER_GETEVENTS in flags, waits for minComplete completions, with
// io_uring_enter(2); arg and argSize are the extended argument (a sigset,
// or struct io_uring_getevents_arg with IORING_ENTER_EXT_ARG), or nil and
// 0. It returns how many entries were consumed. EINTR is returned, not
// retried: the caller knows whether waiting again is right.
func (l *Libc) IoUringEnter(fd int, toSubmit, minComplete, flags uint32, arg unsafe.Pointer, argSize int) (n int, err error) {
	r, err := l.call(unix.SYS_IO_URING_ENTER, uintptr(fd), uintptr(toSubmit), uintptr(minComplete), uintptr(flags), uintptr(arg), uintptr(argSize))
	if err != nil {
		return 0, err
	}
	return int(r), nil
}

// IoUringRegister registers or unregisters resources of ring fd (opcode
// IORING_REGISTER_*: buffers, files, an eventfd, a probe, a buffer ring,
// …) with io_uring_register(2). arg points to nrArgs items of the type the
// opcode takes, or is nil. It returns the kernel's result, which for most
// opcodes is 0.
func (l *Libc) IoUringRegister(fd int, opcode uint32, arg unsafe.Pointer, nrArgs uint32) (int, error) {
	r, err := l.call(unix.SYS_IO_URING_REGISTER, uintptr(fd), uintptr(opcode), uintptr(arg), uintptr(nrArgs), 0, 0)
	if err != nil {
		return 0, err
	}
	return int(r), nil
}
