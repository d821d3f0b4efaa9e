package main

import (
	"flag"
	"path/filepath"

	"github.com/gokernel/gokernel/internal/cli"
	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/ufs"
)

func init() {
	var f imageFlags
	register(&cli.Command{
		Name:    "cp-in",
		Args:    "[flags] IMAGE HOSTPATH... PATH",
		Summary: "copy host files and directories into a disk image (cptofs)",
		Help: `cp-in copies each HOSTPATH, with everything under it, into the directory
PATH inside the image (made if missing) under its own name. Modes, times,
symlinks and hard links (between the files copied) are kept. The image is
unmounted and flushed before cp-in exits. A progress line goes to stderr
when it is a terminal.

` + imageHelp,
		NoKernel: true,
		Setup: func(fs *flag.FlagSet) func([]string) error {
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
		sub, err := img.fs.Sub(dest)
		if err != nil {
			return err
		}
		dst := sub.(*ufs.FS)
		if dst != img.fs {
			defer dst.Close()
		}
		prog := startProgress(out.Err)
		defer prog.finish()
		// LKL writes: all on this goroutine (no Workers).
		c := ufs.NewCopier(dst, ufs.CopyOptions{Progress: prog.add, Skipped: warnSkipped})
		for _, p := range args[:len(args)-1] {
			if err = copyIn(c, p); err != nil {
				break
			}
		}
		if werr := c.Wait(); err == nil {
			err = werr
		}
		return err // the first error, host paths as typed
	})
}

// copyIn copies the host path p, as typed, with c; errors name host
// paths as the user typed them.
func copyIn(c *ufs.Copier, p string) error {
	abs, err := filepath.Abs(p)
	if err != nil {
		return err
	}
	parent := ufs.New(sys.Host(), filepath.Dir(abs))
	defer parent.Close()
	return hostPathErr(filepath.Dir(p), c.Copy(parent, filepath.Base(abs)))
}
