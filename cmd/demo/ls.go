package main

import (
	"flag"
	"fmt"
	"io/fs"
	"path"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/internal/cli"
)

func init() {
	var f imageFlags
	register(&cli.Command{
		Name:     "ls",
		Args:     "[flags] IMAGE [PATH]",
		Summary:  "list a directory (default /) inside a disk image, without mounting it on the host",
		Help:     "ls prints one line per entry: mode, owner, group, size, modification time\nand name (and a symlink's target), sorted by name.\n\n" + imageHelp,
		NoKernel: true,
		Setup: func(fs *flag.FlagSet) func([]string) error {
			f.define(fs, true)
			return func(args []string) error { return imageLs(f, args) }
		},
	})
}

// imagePath turns a path given on the command line, absolute or not, into
// a name inside the image's FS.
func imagePath(p string) string {
	p = path.Clean("/" + p)
	if p == "/" {
		return "."
	}
	return p[1:]
}

func imageLs(f imageFlags, args []string) error {
	return onImage(f, args, 1, 2, "ls takes an image and at most one path", func(img *image, args []string) error {
		return ls(img, optPath(args))
	})
}

func ls(img *image, name string) error {
	fi, err := img.fs.Lstat(name)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return lsLine(img, name, fi)
	}
	ents, err := img.fs.ReadDir(name)
	if err != nil {
		return err
	}
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil {
			return err
		}
		if err := lsLine(img, path.Join(name, e.Name()), fi); err != nil {
			return err
		}
	}
	return nil
}

// lsLine prints one entry in ls -l's manner.
func lsLine(img *image, name string, fi fs.FileInfo) error {
	st := fi.Sys().(*unix.Stat_t)
	line := fmt.Sprintf("%s %4d %4d %10d %s %s", fi.Mode(), st.Uid, st.Gid, fi.Size(),
		fi.ModTime().UTC().Format("2006-01-02 15:04"), fi.Name())
	if fi.Mode()&fs.ModeSymlink != 0 {
		target, err := img.fs.ReadLink(name)
		if err != nil {
			return err
		}
		line += " -> " + target
	}
	_, err := fmt.Fprintln(out.W, line)
	return err
}
