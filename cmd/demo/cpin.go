package main

import (
	"flag"
	"path/filepath"

	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/ufs"
)

func init() {
	var f imageFlags
	register(&command{
		name:    "cp-in",
		args:    "[flags] IMAGE HOSTPATH... PATH",
		summary: "copy host files and directories into a disk image (cptofs)",
		help: `cp-in copies each HOSTPATH, with everything under it, into the directory
PATH inside the image (made if missing) under its own name. Modes, times,
symlinks and hard links (between the files copied) are kept. The image is
unmounted and flushed before cp-in exits. A progress line goes to stderr
when it is a terminal.

` + imageHelp,
		noKernel: true,
		setup: func(fs *flag.FlagSet) func([]string) error {
			f.define(fs, false)
			return func(args []string) error { return imageCpIn(f, args) }
		},
	})
}

func imageCpIn(f imageFlags, args []string) error {
	return onImage(f, args, 3, -1, "cp-in takes an image, one or more host paths and a path in the image", func(img *image, args []string) error {
		dest := imagePath(args[len(args)-1])
		if err := img.fs.MkdirAll(dest, 0o755); err != nil {
			return err
		}
		dst, err := img.fs.Sub(dest)
		if err != nil {
			return err
		}
		prog := startProgress(out.err)
		defer prog.finish()
		c := newCopier(dst.(*ufs.FS), prog, out.err, 0) // LKL writes: all on this goroutine
		if d := dst.(*ufs.FS); d != img.fs {
			c.subs = append(c.subs, d)
		}
		for _, p := range args[:len(args)-1] {
			abs, err := filepath.Abs(p)
			if err != nil {
				c.fail(err)
				break
			}
			parent := ufs.New(sys.Host(), filepath.Dir(abs))
			c.subs = append(c.subs, parent)
			if err := c.tree(parent, filepath.Base(abs), dst.(*ufs.FS), filepath.Base(abs), filepath.Base(abs)); err != nil {
				c.fail(err)
				break
			}
		}
		return c.wait()
	})
}
