package fusefs

import (
	"context"
	iofs "io/fs"
	"syscall"
	"unsafe"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/ufs"
)

// A node is one file, directory or symlink of the mount. It holds no fd:
// it is named by its path from the root, which go-fuse keeps up to date
// through renames (Inode.Path), and every operation resolves that path
// inside the FS, confined to its root as ufs confines every name. Its
// identity (StableAttr.Ino) is the inode number LKL's stat gives, so two
// hard links are one node, and the mode's type bits.
//
// The generation is left 0: stat(2) does not report it. An inode number
// the file system reuses after a delete gets a fresh node all the same,
// because go-fuse registers what Create, Mkdir, Symlink, Link and Mknod
// make as new (their entries are exclusive), and a lookup that meets a
// number go-fuse still knows is the same file reached by another name.
type node struct {
	fs.Inode
	s *server
}

// path returns the name, inside the FS, of the entry name in n (n itself
// for ""), as io/fs names are: "." for the root.
func (n *node) path(name string) string {
	p := n.Path(n.Root())
	switch {
	case p == "" && name == "":
		return "."
	case p == "":
		return name
	case name == "":
		return p
	}
	return p + "/" + name
}

// child makes the node for the entry st describes and fills out with its
// attributes.
func (n *node) child(ctx context.Context, st *unix.Stat_t, out *fuse.EntryOut) *fs.Inode {
	setAttr(&out.Attr, st)
	return n.NewInode(ctx, &node{s: n.s}, fs.StableAttr{Mode: st.Mode & unix.S_IFMT, Ino: st.Ino})
}

// Lookup implements fs.NodeLookuper: lstat of the entry.
func (n *node) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	var st unix.Stat_t
	if err := n.s.lstat(n.path(name), &st); err != nil {
		return nil, errno(err)
	}
	return n.child(ctx, &st, out), 0
}

// Getattr implements fs.NodeGetattrer: fstat of the open file when the
// kernel names one, lstat by name otherwise.
func (n *node) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	var st unix.Stat_t
	var err error
	if h, ok := f.(*handle); ok {
		err = n.s.l.Fstat(h.f.Fd(), &st)
	} else {
		err = n.s.lstat(n.path(""), &st)
	}
	if err != nil {
		return errno(err)
	}
	setAttr(&out.Attr, &st)
	return 0
}

// Setattr implements fs.NodeSetattrer: chmod, chown, truncate and
// utimensat, on the open file when there is one, by name otherwise; then
// the attributes as they are now.
func (n *node) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	h, _ := f.(*handle)
	l, fsys, p := n.s.l, n.s.fsys, n.path("")
	if m, ok := in.GetMode(); ok {
		var err error
		if h != nil {
			err = l.Fchmod(h.f.Fd(), m)
		} else {
			err = fsys.Chmod(p, ufs.FileMode(m))
		}
		if err != nil {
			return errno(err)
		}
	}
	uid, uok := in.GetUID()
	gid, gok := in.GetGID()
	if uok || gok {
		u, g := -1, -1
		if uok {
			u = int(uid)
		}
		if gok {
			g = int(gid)
		}
		var err error
		if h != nil {
			err = l.Fchown(h.f.Fd(), u, g)
		} else {
			err = fsys.Lchown(p, u, g)
		}
		if err != nil {
			return errno(err)
		}
	}
	if size, ok := in.GetSize(); ok {
		var err error
		if h != nil {
			err = l.Ftruncate(h.f.Fd(), int64(size))
		} else {
			err = fsys.Truncate(p, int64(size))
		}
		if err != nil {
			return errno(err)
		}
	}
	atime, aok := in.GetATime()
	mtime, mok := in.GetMTime()
	if aok || mok {
		// A zero time.Time leaves that time alone (UTIME_OMIT).
		var err error
		if h != nil {
			err = h.f.Chtimes(atime, mtime)
		} else {
			err = fsys.Lchtimes(p, atime, mtime)
		}
		if err != nil {
			return errno(err)
		}
	}
	return n.Getattr(ctx, f, out)
}

// made finishes an entry this mount has just created at p, whose stat is
// st: it gets the permission bits the host kernel asked for (the kernel
// serving the FS applies its own umask on top of the caller's, which the
// host has applied already) and, for a caller other than root, the
// caller's owner and group, as a local file system would give it.
func (n *node) made(ctx context.Context, p string, st *unix.Stat_t, perm uint32, chmod bool) error {
	if chmod && st.Mode&0o7777 != perm&0o7777 {
		if err := n.s.fsys.Chmod(p, ufs.FileMode(perm)); err != nil {
			return err
		}
		st.Mode = st.Mode&unix.S_IFMT | perm&0o7777
	}
	if c, ok := fuse.FromContext(ctx); ok && c.Uid != 0 && (st.Uid != c.Uid || st.Gid != c.Gid) {
		if err := n.s.fsys.Lchown(p, int(c.Uid), int(c.Gid)); err != nil {
			return err
		}
		st.Uid, st.Gid = c.Uid, c.Gid
	}
	return nil
}

// entry stats the entry name that an operation just made, finishes it
// (made) and returns its node.
func (n *node) entry(ctx context.Context, name string, perm uint32, chmod bool, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	p := n.path(name)
	var st unix.Stat_t
	if err := n.s.lstat(p, &st); err != nil {
		return nil, errno(err)
	}
	if err := n.made(ctx, p, &st, perm, chmod); err != nil {
		return nil, errno(err)
	}
	return n.child(ctx, &st, out), 0
}

// Mkdir implements fs.NodeMkdirer.
func (n *node) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if err := n.s.fsys.Mkdir(n.path(name), ufs.FileMode(mode)); err != nil {
		return nil, errno(err)
	}
	return n.entry(ctx, name, mode, true, out)
}

// Mknod implements fs.NodeMknoder: FIFOs, sockets and device nodes, with
// mknodat(2) on the kernel serving the FS (a device node made there names
// a device of that kernel, never one of the host).
func (n *node) Mknod(ctx context.Context, name string, mode, dev uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	p, err := unix.BytePtrFromString(name)
	if err != nil {
		return nil, syscall.EINVAL
	}
	err = n.s.withPath(n.path(""), unix.O_PATH|unix.O_DIRECTORY, func(dirfd int) error {
		if _, _, e := sys.SyscallOn(n.s.l.Kernel(), unix.SYS_MKNODAT, uintptr(dirfd), uintptr(unsafe.Pointer(p)), uintptr(mode), uintptr(dev), 0, 0); e != 0 {
			return e
		}
		return nil
	})
	if err != nil {
		return nil, errno(err)
	}
	return n.entry(ctx, name, mode, true, out)
}

// Symlink implements fs.NodeSymlinker. The target is stored as given.
func (n *node) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if err := n.s.fsys.Symlink(target, n.path(name)); err != nil {
		return nil, errno(err)
	}
	return n.entry(ctx, name, 0, false, out)
}

// Link implements fs.NodeLinker.
func (n *node) Link(ctx context.Context, target fs.InodeEmbedder, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	t, ok := target.(*node)
	if !ok {
		return nil, syscall.EXDEV
	}
	p := n.path(name)
	if err := n.s.fsys.Link(t.path(""), p); err != nil {
		return nil, errno(err)
	}
	var st unix.Stat_t
	if err := n.s.lstat(p, &st); err != nil {
		return nil, errno(err)
	}
	return n.child(ctx, &st, out), 0
}

// Readlink implements fs.NodeReadlinker.
func (n *node) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	p := n.path("")
	if iofs.ValidPath(p) {
		target, err := n.s.fsys.ReadLink(p)
		return []byte(target), errno(err)
	}
	var target []byte
	err := n.s.withPath(p, unix.O_PATH, func(fd int) error {
		for size := 256; ; size *= 2 {
			b := make([]byte, size)
			m, err := n.s.l.Readlinkat(fd, "", b)
			if err != nil || m < size {
				target = b[:max(m, 0)]
				return err
			}
		}
	})
	return target, errno(err)
}

// Unlink implements fs.NodeUnlinker.
func (n *node) Unlink(ctx context.Context, name string) syscall.Errno {
	return errno(n.s.fsys.Remove(n.path(name)))
}

// Rmdir implements fs.NodeRmdirer.
func (n *node) Rmdir(ctx context.Context, name string) syscall.Errno {
	return errno(n.s.fsys.Remove(n.path(name)))
}

// Rename implements fs.NodeRenamer: rename(2), or renameat2(2) with the
// flags the kernel passed (RENAME_NOREPLACE, RENAME_EXCHANGE; the file
// system decides whether it has them).
func (n *node) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	np, ok := newParent.(*node)
	if !ok {
		return syscall.EXDEV
	}
	if flags == 0 {
		return errno(n.s.fsys.Rename(n.path(name), np.path(newName)))
	}
	err := n.s.withPath(n.path(""), unix.O_PATH|unix.O_DIRECTORY, func(oldfd int) error {
		return n.s.withPath(np.path(""), unix.O_PATH|unix.O_DIRECTORY, func(newfd int) error {
			return n.s.l.Renameat2(oldfd, name, newfd, newName, uint(flags))
		})
	})
	return errno(err)
}

// Statfs implements fs.NodeStatfser, with statfs(2) of the FS's root.
func (n *node) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	var st unix.Statfs_t
	err := n.s.withPath(".", unix.O_PATH|unix.O_DIRECTORY, func(fd int) error { return n.s.l.Fstatfs(fd, &st) })
	if err != nil {
		return errno(err)
	}
	out.Blocks, out.Bfree, out.Bavail = st.Blocks, st.Bfree, st.Bavail
	out.Files, out.Ffree = st.Files, st.Ffree
	out.Bsize, out.Frsize = uint32(st.Bsize), uint32(st.Frsize)
	out.NameLen = uint32(st.Namelen)
	return 0
}

var (
	_ fs.NodeLookuper   = (*node)(nil)
	_ fs.NodeGetattrer  = (*node)(nil)
	_ fs.NodeSetattrer  = (*node)(nil)
	_ fs.NodeMkdirer    = (*node)(nil)
	_ fs.NodeMknoder    = (*node)(nil)
	_ fs.NodeSymlinker  = (*node)(nil)
	_ fs.NodeLinker     = (*node)(nil)
	_ fs.NodeReadlinker = (*node)(nil)
	_ fs.NodeUnlinker   = (*node)(nil)
	_ fs.NodeRmdirer    = (*node)(nil)
	_ fs.NodeRenamer    = (*node)(nil)
	_ fs.NodeStatfser   = (*node)(nil)
)
