package aio

import (
	"errors"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Registered ("direct") files: a table of files the ring holds, which
// operations name by index instead of by fd. An open can put its file in
// a slot of the table (PrepOpenat2Direct) rather than in the process's fd
// table, operations with SQEFixedFile use the slot without looking the
// fd up, and a close of the slot (PrepCloseDirect) drops it. Because the
// slot is known before the open completes, an open, its reads and its
// close can go to the kernel as one linked chain (SQEIOLink).

// io_uring_register(2) opcodes and flags for the file table.
const (
	registerFiles      uint32 = 2
	unregisterFiles    uint32 = 3
	registerFiles2     uint32 = 13
	rsrcRegisterSparse uint32 = 1 << 0 // IORING_RSRC_REGISTER_SPARSE
)

// rsrcRegister is struct io_uring_rsrc_register, IORING_REGISTER_FILES2's
// argument.
type rsrcRegister struct {
	nr    uint32
	flags uint32
	_     uint64
	data  uint64
	tags  uint64
}

var _ = [1]struct{}{}[unsafe.Sizeof(rsrcRegister{})-32]

// RegisterFilesSparse gives the ring a table of n empty file slots, for
// PrepOpenat2Direct, SQEFixedFile and PrepCloseDirect. It asks for a
// sparse table (IORING_REGISTER_FILES2 with IORING_RSRC_REGISTER_SPARSE,
// Linux 5.19) and, where the kernel refuses that with EINVAL, registers n
// fds of -1 (IORING_REGISTER_FILES), which is the same table. A ring has
// one table; Close drops it with the files left in it. Errors are
// *os.SyscallError "io_uring_register".
func (r *Ring) RegisterFilesSparse(n uint32) error {
	if n == 0 {
		return os.NewSyscallError(uringRegisterName, syscall.EINVAL)
	}
	reg := rsrcRegister{nr: n, flags: rsrcRegisterSparse}
	err := r.register(registerFiles2, unsafe.Pointer(&reg), uint32(unsafe.Sizeof(reg)))
	if err == nil || !errors.Is(err, syscall.EINVAL) {
		return err
	}
	fds := make([]int32, n)
	for i := range fds {
		fds[i] = -1
	}
	return r.register(registerFiles, unsafe.Pointer(&fds[0]), n)
}

// UnregisterFiles drops the file table and the files in it.
func (r *Ring) UnregisterFiles() error { return r.register(unregisterFiles, nil, 0) }

// PrepOpenat2Direct is PrepOpenat2 that puts the new file in slot of the
// ring's file table (RegisterFilesSparse) instead of the fd table: the
// completion's Res is 0 on success. A file already in the slot is closed.
func (s *SQE) PrepOpenat2Direct(dirfd int, path *byte, how *unix.OpenHow, slot uint32) {
	s.PrepOpenat2(dirfd, path, how)
	s.SpliceFdIn = int32(slot + 1)
}

// PrepCloseDirect makes s drop the file in slot of the ring's file table.
func (s *SQE) PrepCloseDirect(slot uint32) {
	s.set(OpClose, 0, 0, 0, 0)
	s.SpliceFdIn = int32(slot + 1)
}

// PrepReadDirect is PrepRead of the file in slot of the ring's file
// table.
func (s *SQE) PrepReadDirect(slot uint32, b []byte, off int64) {
	s.PrepRead(int(slot), b, off)
	s.Flags |= SQEFixedFile
}
