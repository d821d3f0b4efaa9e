package ufs

import (
	"io/fs"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The writing methods of FS, in the manner of os.Root's: each validates
// its arguments, resolves the name inside the root and makes one *at call
// on the directory that holds the final component.

// OpenFile opens the named file with flag (os.O_RDONLY, os.O_CREATE, … —
// the kernel's open(2) flags) and, when it creates the file, perm (before
// the umask). A final symlink is followed inside the root, except with
// O_CREATE|O_EXCL, where it makes the call fail with EEXIST.
func (fsys *FS) OpenFile(name string, flag int, perm fs.FileMode) (*File, error) {
	if err := checkName("openat", name); err != nil {
		return nil, err
	}
	f, err := fsys.openFile(name, flag, sysMode(perm))
	if err != nil {
		return nil, pathErr("openat", name, err)
	}
	return f, nil
}

// Create creates or truncates the named file, mode 0666 before the umask,
// and opens it for reading and writing.
func (fsys *FS) Create(name string) (*File, error) {
	return fsys.OpenFile(name, unix.O_RDWR|unix.O_CREAT|unix.O_TRUNC, 0o666)
}

// WriteFile writes data to the named file, creating it with perm if
// needed and truncating it otherwise.
func (fsys *FS) WriteFile(name string, data []byte, perm fs.FileMode) error {
	f, err := fsys.OpenFile(name, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// do resolves name and runs f on its final component, wrapping an error
// in a PathError for op.
func (fsys *FS) do(op, name string, f func(parent int, base string) (struct{}, error)) error {
	if err := checkName(op, name); err != nil {
		return err
	}
	_, err := resolve(fsys, name, nil, f)
	return pathErr(op, name, err)
}

// Mkdir makes the directory name with perm (before the umask).
func (fsys *FS) Mkdir(name string, perm fs.FileMode) error {
	return fsys.do("mkdirat", name, func(parent int, base string) (struct{}, error) {
		return struct{}{}, fsys.l.Mkdirat(parent, base, sysMode(perm))
	})
}

// MkdirAll makes the directory name and any parents it lacks, with perm
// (before the umask). It succeeds if name is a directory already, or a
// symlink to one inside the root.
func (fsys *FS) MkdirAll(name string, perm fs.FileMode) error {
	if err := checkName("mkdirat", name); err != nil {
		return err
	}
	mode := sysMode(perm)
	openDir := func(parent int, base string) (int, error) {
		fd, err := openDirNoFollow(fsys.l, parent, base)
		if err != syscall.ENOENT {
			return fd, err
		}
		if err := fsys.l.Mkdirat(parent, base, mode); err != nil && err != syscall.EEXIST {
			return -1, err
		}
		return openDirNoFollow(fsys.l, parent, base)
	}
	_, err := resolve(fsys, name, openDir, func(parent int, base string) (struct{}, error) {
		err := fsys.l.Mkdirat(parent, base, mode)
		if err != syscall.EEXIST {
			return struct{}{}, err
		}
		var st unix.Stat_t
		if err := fsys.l.Fstatat(parent, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return struct{}{}, err
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			return struct{}{}, nil
		case unix.S_IFLNK:
			return struct{}{}, symlinkOr(fsys.l, parent, base, syscall.ENOTDIR)
		}
		return struct{}{}, syscall.ENOTDIR
	})
	return pathErr("mkdirat", name, err)
}

// Remove removes the named file or empty directory; a final symlink is
// removed, not followed.
func (fsys *FS) Remove(name string) error {
	return fsys.do("unlinkat", name, func(parent int, base string) (struct{}, error) {
		return struct{}{}, fsys.removeat(parent, base)
	})
}

// removeat removes a file or an empty directory.
func (fsys *FS) removeat(parent int, base string) error {
	err := fsys.l.Unlinkat(parent, base, 0)
	if err == nil || err != syscall.EISDIR && err != syscall.EPERM {
		return err
	}
	derr := fsys.l.Unlinkat(parent, base, unix.AT_REMOVEDIR)
	if derr == syscall.ENOTDIR {
		return err
	}
	return derr
}

// RemoveAll removes name and everything under it. It removes what it can
// and returns the first error; a name that does not exist is not an error.
// Symlinks are removed, never followed.
func (fsys *FS) RemoveAll(name string) error {
	err := fsys.do("unlinkat", name, func(parent int, base string) (struct{}, error) {
		if base == "." || base == ".." {
			return struct{}{}, syscall.EINVAL
		}
		return struct{}{}, fsys.removeAllAt(parent, base)
	})
	if err != nil && isNotExist(err) {
		return nil
	}
	return err
}

func isNotExist(err error) bool {
	pe, ok := err.(*fs.PathError)
	return ok && pe.Err == syscall.ENOENT
}

// removeAllAt removes base in parent and everything under it.
func (fsys *FS) removeAllAt(parent int, base string) error {
	err := fsys.removeat(parent, base)
	if err != syscall.ENOTEMPTY && err != syscall.EEXIST {
		return err
	}
	fd, err := openDirNoFollow(fsys.l, parent, base)
	if err != nil {
		if _, ok := err.(errSymlink); ok {
			return fsys.l.Unlinkat(parent, base, 0)
		}
		return err
	}
	var first error
	for {
		ents, err := fsys.l.NewDirReader(fd).ReadAll()
		if err != nil {
			first = err
			break
		}
		removed := 0
		for _, e := range ents {
			if err := fsys.removeAllAt(fd, e.Name); err != nil && err != syscall.ENOENT {
				first = cmpErr(first, err)
			} else {
				removed++
			}
		}
		if removed == 0 || first != nil {
			break
		}
		// Entries removed shift the rest: read again from the start.
		if _, err := fsys.l.Seek(fd, 0, 0); err != nil {
			first = err
			break
		}
	}
	fsys.l.Close(fd)
	if err := fsys.l.Unlinkat(parent, base, unix.AT_REMOVEDIR); err != nil && err != syscall.ENOENT {
		first = cmpErr(first, err)
	}
	return first
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// both resolves oldname, then newname, and runs f on their final
// components, for the calls that take two names; an error is a PathError
// whose Path holds both names.
func (fsys *FS) both(op, oldname, newname string, f func(oldParent int, oldBase string, newParent int, newBase string) error) error {
	perr := func(err error) error { return pathErr(op, oldname+" "+newname, err) }
	if err := checkName(op, oldname); err != nil {
		return perr(syscall.EINVAL)
	}
	if err := checkName(op, newname); err != nil {
		return perr(syscall.EINVAL)
	}
	_, err := resolve(fsys, oldname, nil, func(oldParent int, oldBase string) (struct{}, error) {
		return resolve(fsys, newname, nil, func(newParent int, newBase string) (struct{}, error) {
			return struct{}{}, f(oldParent, oldBase, newParent, newBase)
		})
	})
	return perr(err)
}

// Rename renames (moves) oldname to newname, replacing newname if it
// exists and the kernel allows it. Neither final component is followed.
func (fsys *FS) Rename(oldname, newname string) error {
	return fsys.both("renameat", oldname, newname, func(op int, ob string, np int, nb string) error {
		return fsys.l.Renameat(op, ob, np, nb)
	})
}

// Link makes newname a hard link to oldname; a final symlink in oldname is
// linked, not followed.
func (fsys *FS) Link(oldname, newname string) error {
	return fsys.both("linkat", oldname, newname, func(op int, ob string, np int, nb string) error {
		return fsys.l.Linkat(op, ob, np, nb, 0)
	})
}

// Symlink makes newname a symlink to target. The target is stored as
// given; following it later stays inside the root (or fails).
func (fsys *FS) Symlink(target, newname string) error {
	perr := func(err error) error { return pathErr("symlinkat", target+" "+newname, err) }
	if checkName("symlinkat", target) != nil || target == "" {
		return perr(syscall.EINVAL)
	}
	if err := checkName("symlinkat", newname); err != nil {
		return perr(syscall.EINVAL)
	}
	_, err := resolve(fsys, newname, nil, func(parent int, base string) (struct{}, error) {
		return struct{}{}, fsys.l.Symlinkat(target, parent, base)
	})
	return perr(err)
}

// Chmod sets the mode bits of name, following a final symlink inside the
// root.
func (fsys *FS) Chmod(name string, mode fs.FileMode) error {
	return fsys.do("fchmodat", name, followLast(fsys.l, func(parent int, base string) (struct{}, error) {
		return struct{}{}, fsys.l.Fchmodat(parent, base, sysMode(mode), 0)
	}))
}

// Chown sets the owner and group of name (-1 leaves one as it is),
// following a final symlink inside the root.
func (fsys *FS) Chown(name string, uid, gid int) error {
	return fsys.do("fchownat", name, followLast(fsys.l, func(parent int, base string) (struct{}, error) {
		return struct{}{}, fsys.l.Fchownat(parent, base, uid, gid, unix.AT_SYMLINK_NOFOLLOW)
	}))
}

// Lchown is Chown for the symlink itself when name names one.
func (fsys *FS) Lchown(name string, uid, gid int) error {
	return fsys.do("fchownat", name, func(parent int, base string) (struct{}, error) {
		return struct{}{}, fsys.l.Fchownat(parent, base, uid, gid, unix.AT_SYMLINK_NOFOLLOW)
	})
}

// Chtimes sets the access and modification times of name, following a
// final symlink inside the root; a zero time leaves that time as it is.
func (fsys *FS) Chtimes(name string, atime, mtime time.Time) error {
	ts := []unix.Timespec{timespec(atime), timespec(mtime)}
	return fsys.do("utimensat", name, followLast(fsys.l, func(parent int, base string) (struct{}, error) {
		return struct{}{}, fsys.l.UtimesNanoAt(parent, base, ts, unix.AT_SYMLINK_NOFOLLOW)
	}))
}

// Lchtimes is Chtimes for the symlink itself when name names one.
func (fsys *FS) Lchtimes(name string, atime, mtime time.Time) error {
	ts := []unix.Timespec{timespec(atime), timespec(mtime)}
	return fsys.do("utimensat", name, func(parent int, base string) (struct{}, error) {
		return struct{}{}, fsys.l.UtimesNanoAt(parent, base, ts, unix.AT_SYMLINK_NOFOLLOW)
	})
}

func timespec(t time.Time) unix.Timespec {
	if t.IsZero() {
		return unix.Timespec{Nsec: unix.UTIME_OMIT}
	}
	return unix.NsecToTimespec(t.UnixNano())
}

// Truncate sets the size of the named file, following a final symlink
// inside the root.
func (fsys *FS) Truncate(name string, size int64) error {
	if err := checkName("truncate", name); err != nil {
		return err
	}
	f, err := fsys.openFile(name, unix.O_WRONLY, 0)
	if err != nil {
		return pathErr("truncate", name, err)
	}
	err = fsys.l.Ftruncate(f.fd, size)
	f.Close()
	return pathErr("truncate", name, err)
}
