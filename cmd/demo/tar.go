package main

import (
	"archive/tar"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"path"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/internal/cli"
	"github.com/gokernel/gokernel/ufs"
)

func init() {
	var f imageFlags
	register(&cli.Command{
		Name:    "tar",
		Args:    "[flags] IMAGE [PATH] > out.tar",
		Summary: "write a directory (default /) of a disk image to stdout as a tar archive (fs2tar)",
		Help: `tar archives PATH inside the image and everything under it, in name
order, in PAX format: modes, owners, times (modification and access),
symlinks and hard links are kept, and extended attributes become
SCHILY.xattr PAX records. Names in the archive are relative to PATH.
Devices and fifos are archived as such; sockets are skipped.

` + imageHelp,
		NoKernel: true,
		Setup: func(fs *flag.FlagSet) func([]string) error {
			f.define(fs, true)
			return func(args []string) error { return imageTar(f, args) }
		},
	})
}

func imageTar(f imageFlags, args []string) error {
	return onImage(f, args, 1, 2, "tar takes an image and at most one path", func(img *image, args []string) error {
		return archive(img, optPath(args))
	})
}

// archive writes name in img, and everything under it, to stdout.
func archive(img *image, name string) error {
	prog := startProgress(out.Err)
	defer prog.finish()
	tw := tar.NewWriter(out.W)
	a := &archiver{fs: img.fs, tw: tw, links: map[[2]uint64]string{}, prog: prog}
	if err := a.walk(name, "."); err != nil {
		return err
	}
	return tw.Close()
}

// archiver writes a tree of an FS to a tar.Writer.
type archiver struct {
	fs    *ufs.FS
	tw    *tar.Writer
	links map[[2]uint64]string // (dev, ino) of files with more than one link → first name archived
	prog  *progress
	buf   []byte
}

// walk archives name (in the FS) as arch (in the archive), and below it.
func (a *archiver) walk(name, arch string) error {
	fi, err := a.fs.Lstat(name)
	if err != nil {
		return err
	}
	if err := a.entry(name, arch, fi); err != nil || !fi.IsDir() {
		return err
	}
	ents, err := a.fs.ReadDir(name)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if err := a.walk(path.Join(name, e.Name()), path.Join(arch, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// entry writes one header, and a regular file's contents.
func (a *archiver) entry(name, arch string, fi fs.FileInfo) error {
	if fi.Mode()&fs.ModeSocket != 0 {
		return nil
	}
	link := ""
	if fi.Mode()&fs.ModeSymlink != 0 {
		var err error
		if link, err = a.fs.ReadLink(name); err != nil {
			return err
		}
	}
	hdr, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	hdr.Format = tar.FormatPAX
	hdr.Name = arch
	if fi.IsDir() {
		hdr.Name += "/"
	}
	st := fi.Sys().(*unix.Stat_t)
	hdr.Uid, hdr.Gid = int(st.Uid), int(st.Gid)
	hdr.Uname, hdr.Gname = "", ""
	if fi.Mode()&fs.ModeDevice != 0 {
		hdr.Devmajor, hdr.Devminor = int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
	}
	hdr.AccessTime = time.Unix(st.Atim.Unix())
	hdr.ChangeTime = time.Unix(st.Ctim.Unix())
	if fi.Mode().IsRegular() && st.Nlink > 1 {
		key := [2]uint64{st.Dev, st.Ino}
		if first, ok := a.links[key]; ok {
			hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
		} else {
			a.links[key] = arch
		}
	}
	if fi.Mode().IsRegular() || fi.IsDir() {
		if err := a.xattrs(name, hdr); err != nil {
			return err
		}
	}
	if err := a.tw.WriteHeader(hdr); err != nil {
		return err
	}
	if hdr.Typeflag != tar.TypeReg || hdr.Size == 0 {
		return nil
	}
	f, err := a.fs.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	if a.buf == nil {
		a.buf = make([]byte, 1<<20)
	}
	n, err := io.CopyBuffer(onlyWriter{a.tw}, onlyReader{f}, a.buf)
	a.prog.files.Add(1)
	a.prog.bytes.Add(n)
	return err
}

// xattrs adds name's extended attributes to hdr as PAX records; a file
// system without them has none.
func (a *archiver) xattrs(name string, hdr *tar.Header) error {
	names, err := a.fs.Listxattr(name)
	if errors.Is(err, unix.EOPNOTSUPP) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, x := range names {
		v, err := a.fs.Getxattr(name, x)
		if err != nil {
			return err
		}
		if hdr.PAXRecords == nil {
			hdr.PAXRecords = map[string]string{}
		}
		hdr.PAXRecords["SCHILY.xattr."+x] = string(v)
	}
	return nil
}

// onlyReader and onlyWriter hide io.WriterTo and io.ReaderFrom, so that
// io.CopyBuffer uses the buffer it is given.
type onlyReader struct{ io.Reader }
type onlyWriter struct{ io.Writer }
