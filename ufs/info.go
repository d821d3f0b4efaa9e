package ufs

import (
	"io/fs"
	"path"
	"time"

	"golang.org/x/sys/unix"
)

// File metadata: FileInfo from a unix.Stat_t, directory entries, and mode
// conversions between io/fs and the kernel.

// fileInfo is an fs.FileInfo made from stat(2) output.
type fileInfo struct {
	name string
	st   unix.Stat_t
}

func (fi *fileInfo) Name() string       { return fi.name }
func (fi *fileInfo) Size() int64        { return fi.st.Size }
func (fi *fileInfo) Mode() fs.FileMode  { return FileMode(fi.st.Mode) }
func (fi *fileInfo) ModTime() time.Time { return time.Unix(fi.st.Mtim.Unix()) }
func (fi *fileInfo) IsDir() bool        { return fi.Mode().IsDir() }

// Sys returns the *unix.Stat_t (a pointer, in the host ABI's layout on
// every kernel) the FileInfo was made from.
func (fi *fileInfo) Sys() any { return &fi.st }

func (fi *fileInfo) String() string { return fs.FormatFileInfo(fi) }

// FileMode converts a stat(2) st_mode (type, permission and setuid,
// setgid and sticky bits) to an fs.FileMode, as os does. A mode with no
// type bits, as chmod(2) and open(2) take it, gives just the permission
// and special bits.
func FileMode(m uint32) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	switch m & unix.S_IFMT {
	case unix.S_IFBLK:
		mode |= fs.ModeDevice
	case unix.S_IFCHR:
		mode |= fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFDIR:
		mode |= fs.ModeDir
	case unix.S_IFIFO:
		mode |= fs.ModeNamedPipe
	case unix.S_IFLNK:
		mode |= fs.ModeSymlink
	case unix.S_IFSOCK:
		mode |= fs.ModeSocket
	}
	if m&unix.S_ISGID != 0 {
		mode |= fs.ModeSetgid
	}
	if m&unix.S_ISUID != 0 {
		mode |= fs.ModeSetuid
	}
	if m&unix.S_ISVTX != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}

// sysMode converts an fs.FileMode's permission and special bits to the
// kernel's mode bits.
func sysMode(m fs.FileMode) uint32 {
	s := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		s |= unix.S_ISUID
	}
	if m&fs.ModeSetgid != 0 {
		s |= unix.S_ISGID
	}
	if m&fs.ModeSticky != 0 {
		s |= unix.S_ISVTX
	}
	return s
}

// direntType converts a getdents64(2) d_type to an fs.FileMode type.
func direntType(t uint8) fs.FileMode {
	switch t {
	case unix.DT_BLK:
		return fs.ModeDevice
	case unix.DT_CHR:
		return fs.ModeDevice | fs.ModeCharDevice
	case unix.DT_DIR:
		return fs.ModeDir
	case unix.DT_FIFO:
		return fs.ModeNamedPipe
	case unix.DT_LNK:
		return fs.ModeSymlink
	case unix.DT_SOCK:
		return fs.ModeSocket
	}
	return 0
}

// dirEntry is an fs.DirEntry from getdents64(2).
type dirEntry struct {
	f    *FS
	dir  string // the directory's name in f
	name string
	typ  fs.FileMode
}

func (e *dirEntry) Name() string      { return e.name }
func (e *dirEntry) IsDir() bool       { return e.typ.IsDir() }
func (e *dirEntry) Type() fs.FileMode { return e.typ }
func (e *dirEntry) String() string    { return fs.FormatDirEntry(e) }

// Info lstats the entry now, by its name in the FS, as os's entries do.
func (e *dirEntry) Info() (fs.FileInfo, error) {
	name := path.Join(e.dir, e.name)
	fi, err := resolve(e.f, name, nil, func(parent int, base string) (*fileInfo, error) {
		fi := &fileInfo{name: e.name}
		return fi, e.f.l.Fstatat(parent, base, &fi.st, unix.AT_SYMLINK_NOFOLLOW)
	})
	if err != nil {
		return nil, pathErr("lstat", name, err)
	}
	return fi, nil
}
