package fusefs

import (
	"context"
	"io"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/ufs"
)

// A handle is a file the host has open on the mount: a ufs.File, which
// owns the fd on the FS's kernel. Reads and writes are pread(2) and
// pwrite(2) at the offsets the kernel sends, so concurrent requests on one
// handle do not share a file offset, and none needs a lock.
type handle struct {
	s *server
	f *ufs.File
}

// openFlags are the open(2) flags a handle is opened with for the flags
// the kernel sent. O_APPEND is dropped: the host kernel has turned every
// append into a write at the end already, and ufs refuses WriteAt on an
// O_APPEND file. O_DIRECT is dropped too: the host's page cache is the
// one that matters, and LKL's block layer may refuse unaligned transfers.
// A write-only open is made read-write: with the writeback cache the host
// kernel reads pages of it to fill the parts a write does not cover (the
// host kernel has checked the caller's permission to open it write-only;
// the kernel serving the FS runs as root). The creation flags are
// Create's business.
func openFlags(flags uint32) int {
	f := int(flags) &^ (unix.O_APPEND | unix.O_DIRECT | unix.O_CREAT | unix.O_EXCL | unix.O_NOCTTY | fuse.FMODE_EXEC)
	if f&unix.O_ACCMODE == unix.O_WRONLY {
		f = f&^unix.O_ACCMODE | unix.O_RDWR
	}
	return f
}

// handleFlags are the FOPEN flags every handle is opened with: the page
// cache is kept from one open to the next (every change to the file goes
// through this mount, which updates or invalidates it), and close(2)
// sends no FLUSH, since a handle buffers nothing.
const handleFlags = fuse.FOPEN_KEEP_CACHE | fuse.FOPEN_NOFLUSH

// Open implements fs.NodeOpener. On a read-only mount it answers ENOSYS,
// which tells the host kernel (FUSE_NO_OPEN_SUPPORT) to send no OPEN and
// no RELEASE for any file of the mount from then on: a read then comes
// without a handle and uses the node's cached file (files.go). That takes
// two of the requests a program makes for a small file away. A read-write
// mount keeps its handles: a file unlinked while open must stay readable
// and writable through them.
func (n *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if n.s.noOpen.Load() {
		return nil, 0, syscall.ENOSYS
	}
	f, err := n.s.fsys.OpenFile(n.path(""), openFlags(flags), 0)
	if err != nil {
		return nil, 0, errno(err)
	}
	n.s.open.add(f)
	return &handle{s: n.s, f: f}, handleFlags, 0
}

// Create implements fs.NodeCreater: open(2) with O_CREAT (and O_EXCL
// when the caller gave it).
func (n *node) Create(ctx context.Context, name string, flags, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	p := n.path(name)
	f, err := n.s.fsys.OpenFile(p, openFlags(flags)|unix.O_CREAT|int(flags)&unix.O_EXCL, ufs.FileMode(mode))
	if err != nil {
		return nil, nil, 0, errno(err)
	}
	var st unix.Stat_t
	if err := n.s.l.Fstat(f.Fd(), &st); err == nil {
		err = n.made(ctx, p, &st, mode, true)
	}
	if err != nil {
		f.Close()
		return nil, nil, 0, errno(err)
	}
	n.s.open.add(f)
	return n.child(ctx, &st, out), &handle{s: n.s, f: f}, handleFlags, 0
}

// Read implements fs.NodeReader: up to len(dest) bytes at off (fewer only
// at the end of the file), from the handle, or without one (a read-only
// mount sends none) from the node's cached file.
func (n *node) Read(ctx context.Context, f fs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if h, ok := f.(*handle); ok {
		return h.Read(ctx, dest, off)
	}
	var m int
	err := n.withFile(func(f *ufs.File) (err error) {
		m, err = f.ReadAt(dest, off)
		return err
	})
	if err != nil && err != io.EOF {
		return nil, errno(err)
	}
	return fuse.ReadResultData(dest[:m]), 0
}

// Read implements fs.FileReader: up to len(dest) bytes at off; fewer only
// at the end of the file.
func (h *handle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	n, err := h.f.ReadAt(dest, off)
	if err != nil && err != io.EOF {
		return nil, errno(err)
	}
	return fuse.ReadResultData(dest[:n]), 0
}

// Write implements fs.FileWriter: all of data at off.
func (h *handle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	n, err := h.f.WriteAt(data, off)
	return uint32(n), errno(err)
}

// Flush implements fs.NodeFlusher. Without a handle (a read-only mount
// sends no OPEN) it answers ENOSYS, after which the host kernel sends no
// FLUSH on close(2) again: nothing is buffered anywhere to flush.
func (n *node) Flush(ctx context.Context, f fs.FileHandle) syscall.Errno {
	if h, ok := f.(*handle); ok {
		return h.Flush(ctx)
	}
	return syscall.ENOSYS
}

// Flush implements fs.FileFlusher. A handle holds no data of its own
// (every Write reached the kernel serving the FS before it returned), so
// there is nothing to push; handles are opened with FOPEN_NOFLUSH, and
// the host kernel sends FLUSH only where it must anyway.
func (h *handle) Flush(ctx context.Context) syscall.Errno { return 0 }

// Fsync implements fs.FileFsyncer: fdatasync(2) when the caller asked for
// data only, fsync(2) otherwise.
func (h *handle) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	if flags&1 != 0 { // FUSE_FSYNC_FDATASYNC
		return errno(h.s.l.Fdatasync(h.f.Fd()))
	}
	return errno(h.f.Sync())
}

// Release implements fs.FileReleaser: the last close of the file on the
// host closes its fd in the FS's kernel.
func (h *handle) Release(ctx context.Context) syscall.Errno { return errno(h.s.open.release(h.f)) }

// Allocate implements fs.FileAllocater: fallocate(2) with the caller's
// mode (KEEP_SIZE, PUNCH_HOLE, ZERO_RANGE: as the file system allows).
func (h *handle) Allocate(ctx context.Context, off, size uint64, mode uint32) syscall.Errno {
	return errno(h.s.l.Fallocate(h.f.Fd(), mode, int64(off), int64(size)))
}

// Lseek implements fs.NodeLseeker; the host kernel sends only SEEK_DATA
// and SEEK_HOLE, which need the file system's map of the file. It seeks
// the handle's fd, or without a handle the node's cached file's (whose
// offset no one uses: reads are pread(2)).
func (n *node) Lseek(ctx context.Context, f fs.FileHandle, off uint64, whence uint32) (uint64, syscall.Errno) {
	var m int64
	seek := func(uf *ufs.File) (err error) {
		m, err = n.s.l.Seek(uf.Fd(), int64(off), int(whence))
		return err
	}
	var err error
	if h, ok := f.(*handle); ok {
		err = seek(h.f)
	} else {
		err = n.withFile(seek)
	}
	return uint64(m), errno(err)
}

// CopyFileRange implements fs.NodeCopyFileRanger: copy_file_range(2)
// between two files open on this mount, inside the FS's kernel (no data
// crosses into this process); the file system may refuse with EXDEV or
// EOPNOTSUPP, and the host's caller then copies by reading and writing.
func (n *node) CopyFileRange(ctx context.Context, fhIn fs.FileHandle, offIn uint64, out *fs.Inode, fhOut fs.FileHandle, offOut uint64, size uint64, flags uint64) (uint32, syscall.Errno) {
	in, ok1 := fhIn.(*handle)
	dst, ok2 := fhOut.(*handle)
	if !ok1 || !ok2 {
		return 0, syscall.EXDEV
	}
	ri, wo := int64(offIn), int64(offOut)
	m, err := n.s.l.CopyFileRange(in.f.Fd(), &ri, dst.f.Fd(), &wo, int(min(size, 1<<30)), int(flags))
	return uint32(m), errno(err)
}

var (
	_ fs.NodeOpener         = (*node)(nil)
	_ fs.NodeCreater        = (*node)(nil)
	_ fs.NodeCopyFileRanger = (*node)(nil)
	_ fs.NodeReader         = (*node)(nil)
	_ fs.NodeFlusher        = (*node)(nil)
	_ fs.NodeLseeker        = (*node)(nil)
	_ fs.FileReader         = (*handle)(nil)
	_ fs.FileWriter         = (*handle)(nil)
	_ fs.FileFlusher        = (*handle)(nil)
	_ fs.FileFsyncer        = (*handle)(nil)
	_ fs.FileReleaser       = (*handle)(nil)
	_ fs.FileAllocater      = (*handle)(nil)
)
