package aio

import (
	"encoding/binary"
	"os"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A BufRing is a ring of provided buffers (IORING_REGISTER_PBUF_RING,
// Linux 5.19) registered with a Ring under a group ID: an operation
// submitted with SQEBufferSelect and that group (PrepRecvMultishot) takes
// a buffer from it when data arrives, and its completion names the buffer
// (CQE.BufferID). The caller gives a buffer back with Recycle once it is
// done with the bytes, and makes the given-back buffers visible to the
// kernel with Publish.
//
// The ring and the buffers are mapped memory, outside the Go heap. A
// BufRing belongs to the goroutine that owns its Ring.
type BufRing struct {
	r       *Ring
	group   uint16
	mem     []byte // the ring of struct io_uring_buf
	bufs    []byte // count buffers of size bytes each
	entries []ringBuf
	size    int
	mask    uint16
	tail    uint16 // the local tail: Recycle adds here; Publish gives it to the kernel
}

// NewBufRing makes count buffers of size bytes each and registers them
// with r as buffer group group. count must be a power of two up to 32768
// and size positive; otherwise EINVAL. A kernel without provided buffer
// rings says EINVAL or ENOSYS. Errors are *os.SyscallError ("mmap",
// "io_uring_register").
func (r *Ring) NewBufRing(group uint16, count, size int) (*BufRing, error) {
	if r.closed {
		return nil, File.ErrClosed()
	}
	if count <= 0 || count > maxBufRingEntries || count&(count-1) != 0 || size <= 0 {
		return nil, os.NewSyscallError(uringRegisterName, syscall.EINVAL)
	}
	b := &BufRing{r: r, group: group, size: size, mask: uint16(count - 1)}
	const prot, flags = unix.PROT_READ | unix.PROT_WRITE, unix.MAP_PRIVATE | unix.MAP_ANONYMOUS
	var err error
	if b.mem, err = r.lc.Mmap(-1, 0, count*int(unsafe.Sizeof(ringBuf{})), prot, flags); err != nil {
		return nil, os.NewSyscallError(mmapName, err)
	}
	if b.bufs, err = r.lc.Mmap(-1, 0, count*size, prot, flags); err != nil {
		r.lc.Munmap(b.mem)
		return nil, os.NewSyscallError(mmapName, err)
	}
	b.entries = unsafe.Slice((*ringBuf)(unsafe.Pointer(&b.mem[0])), count)
	reg := bufReg{ringAddr: uint64(uintptr(unsafe.Pointer(&b.mem[0]))), ringEntries: uint32(count), bgid: group}
	if err := r.register(registerPbufRing, unsafe.Pointer(&reg), 1); err != nil {
		b.unmap()
		return nil, err
	}
	for id := range count {
		b.Recycle(uint16(id))
	}
	b.Publish()
	return b, nil
}

// Group returns the buffer group ID.
func (b *BufRing) Group() uint16 { return b.group }

// Count returns the number of buffers.
func (b *BufRing) Count() int { return int(b.mask) + 1 }

// Size returns the size of each buffer.
func (b *BufRing) Size() int { return b.size }

// Buf returns the whole of buffer id; a completion's bytes are
// Buf(id)[:Res]. An id out of range gives nil.
func (b *BufRing) Buf(id uint16) []byte {
	if int(id) > int(b.mask) {
		return nil
	}
	off := int(id) * b.size
	return b.bufs[off : off+b.size : off+b.size]
}

// Recycle queues buffer id to be given back to the kernel; Publish makes
// it (and the others queued since) visible. An id out of range is
// ignored.
func (b *BufRing) Recycle(id uint16) {
	if int(id) > int(b.mask) {
		return
	}
	e := &b.entries[b.tail&b.mask]
	e.addr = uint64(uintptr(unsafe.Pointer(&b.bufs[int(id)*b.size])))
	e.len = uint32(b.size)
	e.bid = id
	b.tail++
}

// Publish gives the buffers Recycle queued to the kernel, with one store
// of the ring's tail (release: the entries are written first). The tail
// is entry 0's last 16 bits and sync/atomic has no 16-bit store, so it
// stores the 32-bit word that also holds entry 0's bid: only this side
// writes either half.
func (b *BufRing) Publish() {
	e := &b.entries[0]
	var v [4]byte
	binary.NativeEndian.PutUint16(v[0:], e.bid)
	binary.NativeEndian.PutUint16(v[2:], b.tail)
	atomic.StoreUint32((*uint32)(unsafe.Pointer(&e.bid)), binary.NativeEndian.Uint32(v[:]))
}

// Close unregisters the group and unmaps the buffers. No operation that
// selects from the group may be in flight. A closed Ring's buffer rings
// are only unmapped.
func (b *BufRing) Close() error {
	var err error
	if !b.r.closed {
		reg := bufReg{bgid: b.group}
		err = b.r.register(unregisterPbufRing, unsafe.Pointer(&reg), 1)
	}
	b.unmap()
	return err
}

// unmap releases the mappings.
func (b *BufRing) unmap() {
	if b.bufs != nil {
		b.r.lc.Munmap(b.bufs)
	}
	if b.mem != nil {
		b.r.lc.Munmap(b.mem)
	}
	b.bufs, b.mem, b.entries = nil, nil, nil
}
