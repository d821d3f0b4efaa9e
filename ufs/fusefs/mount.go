package fusefs

import (
	"bufio"
	"errors"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/libgo"
	"github.com/gokernel/gokernel/ufs"
)

// Options configure a mount. The zero value mounts read-write, for the
// mounting user only.
type Options struct {
	// ReadOnly mounts read-only on the host: the host kernel refuses every
	// change with EROFS before asking the server. (Mount the FS's file
	// system read-only inside its kernel too, so nothing can write it.)
	ReadOnly bool
	// AllowOther lets users other than the one who mounted use the mount
	// (for a non-root user, /etc/fuse.conf must say user_allow_other).
	AllowOther bool
	// FsName is the mount's source, the first field of /proc/mounts
	// (e.g. the image file); empty: the FS's name.
	FsName string
	// NoXattrs answers every extended-attribute request with ENOSYS, after
	// which the host kernel sends none again and programs see a file
	// system without xattrs (EOPNOTSUPP; cp -a then copies none). cp -a
	// asks three xattr requests of every file it copies, more than the
	// file's data takes: this is for trees whose xattrs no one needs.
	NoXattrs bool
	// NoWritebackCache turns the host kernel's writeback cache off on a
	// read-write mount: every write(2) is then a WRITE request before it
	// returns, instead of pages the kernel writes back in big requests
	// later (at the latest on fsync(2), close(2) or unmount).
	NoWritebackCache bool
	// Debug, if set, receives go-fuse's log of every request and reply.
	Debug *log.Logger
}

// Timeouts for the host kernel's caches of entries and attributes. The
// server is the only writer of the FS (nothing else reaches a disk image
// LKL has mounted), and every change made through the mount updates or
// invalidates those caches itself, so the timeouts only bound how long a
// change made some other way could go unseen: long on a read-only mount,
// where there is none, and the usual one second read-write.
const (
	roTimeout = time.Minute
	rwTimeout = time.Second
)

// Sizes of requests: 1 MiB reads and writes (the most the host kernel
// takes), and as much readahead.
const (
	maxWrite     = 1 << 20
	maxReadAhead = 1 << 20
)

// Root returns the root node of a FUSE file system serving fsys, for
// go-fuse's fs.Mount or fs.NewNodeFS, and the attributes that identify
// it (its inode number in fsys's file system).
//
// A file system served this way keeps no file open between requests;
// Mount's does (a few dozen, for speed), and its Server.Wait closes them.
func Root(fsys *ufs.FS) (fs.InodeEmbedder, fs.StableAttr, error) {
	root, attr, err := newRoot(fsys)
	return root, attr, err
}

// newRoot is Root, with the node type.
func newRoot(fsys *ufs.FS) (*node, fs.StableAttr, error) {
	fi, err := fsys.Lstat(".")
	if err != nil {
		return nil, fs.StableAttr{}, err
	}
	st := fi.Sys().(*unix.Stat_t)
	root := &node{s: &server{fsys: fsys, l: libgo.New(fsys.Kernel())}}
	return root, fs.StableAttr{Mode: unix.S_IFDIR, Ino: st.Ino}, nil
}

// Server is a running mount: go-fuse's server, with Wait extended.
type Server struct {
	*fuse.Server
	s *server
}

// Wait waits until the mount is gone (Unmount, umount(8) or fusermount
// -u) and every request has been answered, then closes the files the
// mount kept open, and the files of handles the host kernel never
// released. Call it before closing the FS.
func (s *Server) Wait() {
	s.Server.Wait()
	s.s.files.close()
	s.s.open.closeAll()
}

// Mount serves fsys at the directory mountpoint on the host and returns
// the running server once the host kernel has the mount. The caller waits
// with Server.Wait (it returns once the mount is gone: Server.Unmount,
// umount(8) or fusermount -u) and then closes fsys.
//
// Mount uses mount(2) directly when it may (as root), and fusermount3 (or
// fusermount) otherwise. A mount point that does not exist, is not a
// directory or has a file system mounted on it already is an error, and
// so is a host without FUSE or, for a user other than root, without
// fusermount; each error says which.
func Mount(mountpoint string, fsys *ufs.FS, opts Options) (*Server, error) {
	dir, err := checkMountpoint(mountpoint)
	if err != nil {
		return nil, err
	}
	if err := checkFUSE(); err != nil {
		return nil, err
	}
	root, attr, err := newRoot(fsys)
	if err != nil {
		return nil, fmt.Errorf("serving %s: %w", fsys.Name(), err)
	}
	root.s.files.max = cachedFiles
	timeout := rwTimeout
	if opts.ReadOnly {
		timeout = roTimeout
	}
	fsName := opts.FsName
	if fsName == "" {
		fsName = fsys.Name()
	}
	mo := fuse.MountOptions{
		AllowOther:    opts.AllowOther,
		FsName:        fsName,
		Name:          "gokernel",
		MaxWrite:      maxWrite,
		MaxReadAhead:  maxReadAhead,
		DirectMount:   true,
		DisableXAttrs: opts.NoXattrs,
		// flock locks go to the FS's kernel on a read-write mount, if
		// it has them; POSIX locks stay with the host kernel (locks.go
		// says why).
		EnableLocks:          !opts.ReadOnly && canFlock(fsys),
		DisabledCapabilities: fuse.CAP_POSIX_LOCKS,
		// Splicing needs the data in a host fd; it is in LKL's memory.
		// (go-fuse would keep a pool of pipes for nothing.)
		DisableSplice: true,
		// The host kernel checks permissions against the attributes
		// the server reports: the kernel serving the FS runs as root.
		Options: []string{"default_permissions"},
	}
	if opts.ReadOnly {
		mo.Options = append(mo.Options, "ro")
	} else if !opts.NoWritebackCache {
		// FUSE_WRITEBACK_CACHE: the host kernel keeps written pages,
		// the file's size and its mtime, and writes pages back in big
		// WRITEs; it may read a page of a file opened write-only to
		// fill it (openFlags opens those read-write), and sends the
		// mtime it kept with SETATTR.
		mo.ExtraCapabilities |= fuse.CAP_WRITEBACK_CACHE
	}
	if opts.Debug != nil {
		mo.Debug, mo.Logger = true, opts.Debug
	}
	srv, err := fs.Mount(dir, root, &fs.Options{
		MountOptions:    mo,
		EntryTimeout:    &timeout,
		AttrTimeout:     &timeout,
		NegativeTimeout: &timeout,
		RootStableAttr:  &attr,
		NullPermissions: true, // a mode of 0 is what the file system says
	})
	if err != nil {
		return nil, fmt.Errorf("mounting FUSE at %s: %w", dir, explainMountError(err))
	}
	raiseReadahead(dir)
	if opts.ReadOnly && srv.KernelSettings().Flags64()&fuse.CAP_NO_OPEN_SUPPORT != 0 {
		root.s.noOpen.Store(true)
	}
	return &Server{Server: srv, s: root.s}, nil
}

// raiseReadahead sets the readahead of the mount at dir to maxReadAhead:
// the host kernel reads ahead 128 KiB at a time by default, so a
// sequential read became one 128 KiB READ request per 128 KiB. Only root
// may write the mount's read_ahead_kb in sysfs; for anyone else the
// default stays.
func raiseReadahead(dir string) {
	fi, err := os.Stat(dir)
	if err != nil {
		return
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return
	}
	p := fmt.Sprintf("/sys/class/bdi/%d:%d/read_ahead_kb", unix.Major(st.Dev), unix.Minor(st.Dev))
	os.WriteFile(p, []byte(strconv.Itoa(maxReadAhead>>10)), 0)
}

// checkMountpoint returns the absolute, symlink-free name of mountpoint,
// or an error if it is not a directory, or has a file system mounted on
// it (mounting over one would hide it, and is the usual sign of a mount
// left behind).
func checkMountpoint(mountpoint string) (string, error) {
	dir, err := filepath.Abs(mountpoint)
	if err == nil {
		dir, err = filepath.EvalSymlinks(dir)
	}
	if err != nil {
		return "", fmt.Errorf("mount point %s: %w", mountpoint, unwrapPath(err))
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return "", fmt.Errorf("mount point %s: %w", mountpoint, unwrapPath(err))
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("mount point %s: not a directory", mountpoint)
	}
	if src, ok := mountedAt(dir); ok {
		return "", fmt.Errorf("mount point %s is in use: %s is mounted there (unmount it first: fusermount3 -u %s, or umount)", mountpoint, src, dir)
	}
	return dir, nil
}

// unwrapPath drops an *fs.PathError's own name, which the caller's message
// already gives.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// mountedAt reports whether a file system is mounted at dir, from
// /proc/self/mountinfo, and its source.
func mountedAt(dir string) (string, bool) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [TAGS...] - TYPE SOURCE SUPER
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 || unescapeMountinfo(fields[4]) != dir {
			continue
		}
		for i, f := range fields {
			if f == "-" && i+2 < len(fields) {
				return fields[i+1] + " (" + unescapeMountinfo(fields[i+2]) + ")", true
			}
		}
		return "a file system", true
	}
	return "", false
}

// unescapeMountinfo undoes the octal escapes (\040 for a space, …) of a
// /proc/self/mountinfo field.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// checkFUSE fails when this host cannot mount FUSE at all: no /dev/fuse,
// or, for a user other than root, no fusermount3 or fusermount to mount
// with.
func checkFUSE() error {
	if _, err := os.Stat("/dev/fuse"); err != nil {
		return fmt.Errorf("FUSE is not available: /dev/fuse: %w (load the fuse module: modprobe fuse)", unwrapPath(err))
	}
	if os.Geteuid() == 0 {
		return nil
	}
	if fusermount() == "" {
		return errors.New("mounting FUSE as a user other than root needs fusermount3 (Debian package fuse3) or fusermount, and neither is in $PATH")
	}
	return nil
}

// fusermount returns the fusermount program go-fuse would use, or "".
func fusermount() string {
	for _, name := range []string{"fusermount3", "fusermount"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// explainMountError adds what a failed mount most likely lacked.
func explainMountError(err error) error {
	if os.Geteuid() != 0 && errors.Is(err, unix.EPERM) {
		return fmt.Errorf("%w (as a user other than root, %s must be setuid root, and allow_other needs user_allow_other in /etc/fuse.conf)", err, fusermount())
	}
	return err
}
