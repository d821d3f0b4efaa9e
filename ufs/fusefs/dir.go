package fusefs

import (
	"context"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/sys/dirent"
	"github.com/gokernel/gokernel/ufs"
)

// A dirHandle is a directory the host has open on the mount: a ufs.File
// of the directory, read with getdents64(2) in the kernel's order and
// with its offsets (so telldir/seekdir work), "." and ".." included. It
// also answers the lookups of READDIRPLUS with fstatat(2) on its own fd,
// one call per entry instead of a resolution from the root.
type dirHandle struct {
	n    *node
	f    *ufs.File
	buf  []byte
	ents []dirent.Dirent // decoded from buf
	next int             // the first of ents not returned yet
	s    dirent.Stream   // since the open or the last Seekdir
}

// direntBufSize is the getdents64 buffer of a dirHandle: a few hundred
// entries a call.
const direntBufSize = 32 << 10

// OpendirHandle implements fs.NodeOpendirHandler.
func (n *node) OpendirHandle(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	f, err := n.s.fsys.OpenFile(n.path(""), unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, 0, errno(err)
	}
	n.s.open.add(f)
	return &dirHandle{n: n, f: f}, 0, 0
}

// Readdirent implements fs.FileReaddirenter: the next entry, or nil at
// the end. go-fuse calls it under the handle's lock.
func (d *dirHandle) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	if d.next == len(d.ents) {
		if d.buf == nil {
			d.buf = make([]byte, direntBufSize)
		}
		n, err := d.n.s.l.Getdents(d.f.Fd(), d.buf)
		if err != nil {
			return nil, errno(err)
		}
		if n == 0 {
			return nil, 0
		}
		d.next = 0
		if d.ents, err = d.s.Decode(d.buf[:n], d.ents[:0]); err != nil { // EINVAL, or EUCLEAN for an endless stream
			d.ents = d.ents[:0]
			return nil, errno(err)
		}
		if d.next == len(d.ents) {
			return nil, syscall.EIO
		}
	}
	e := &d.ents[d.next]
	d.next++
	return &fuse.DirEntry{Name: e.Name, Ino: e.Ino, Mode: uint32(e.Type) << 12, Off: uint64(e.Off)}, 0
}

// Seekdir implements fs.FileSeekdirer: the next Readdirent starts at off,
// an offset an entry reported (0: the start).
func (d *dirHandle) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	d.ents, d.next, d.s = d.ents[:0], 0, dirent.Stream{}
	_, err := d.n.s.l.Seek(d.f.Fd(), int64(off), 0)
	return errno(err)
}

// Lookup implements fs.FileLookuper, for READDIRPLUS.
func (d *dirHandle) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	var st unix.Stat_t
	if err := d.n.s.l.Fstatat(d.f.Fd(), name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return nil, errno(err)
	}
	return d.n.child(ctx, &st, out), 0
}

// Fsyncdir implements fs.FileFsyncdirer.
func (d *dirHandle) Fsyncdir(ctx context.Context, flags uint32) syscall.Errno {
	return errno(d.f.Sync())
}

// Releasedir implements fs.FileReleasedirer.
func (d *dirHandle) Releasedir(ctx context.Context, flags uint32) { d.n.s.open.release(d.f) }

var (
	_ fs.NodeOpendirHandler = (*node)(nil)
	_ fs.FileReaddirenter   = (*dirHandle)(nil)
	_ fs.FileSeekdirer      = (*dirHandle)(nil)
	_ fs.FileLookuper       = (*dirHandle)(nil)
	_ fs.FileFsyncdirer     = (*dirHandle)(nil)
	_ fs.FileReleasedirer   = (*dirHandle)(nil)
)
