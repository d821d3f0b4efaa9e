package main

import (
	"flag"
	"fmt"
	"runtime"

	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/ufs"
)

func init() {
	var f imageFlags
	register(&command{
		name:    "cp-out",
		args:    "[flags] IMAGE PATH... HOSTDIR",
		summary: "copy files and directories out of a disk image into a host directory (cpfromfs)",
		help: `cp-out copies each PATH inside the image, with everything under it, into
HOSTDIR (which must exist) under its own name; PATH / copies the image's
whole tree into HOSTDIR. Modes, times, symlinks and hard
links (between the files copied) are kept; devices, fifos and sockets are
skipped. A progress
line goes to stderr when it is a terminal.

` + imageHelp,
		noKernel: true,
		setup: func(fs *flag.FlagSet) func([]string) error {
			f.define(fs, true)
			return func(args []string) error { return imageCpOut(f, args) }
		},
	})
}

func imageCpOut(f imageFlags, args []string) error {
	return onImage(f, args, 3, -1, "cp-out takes an image, one or more paths and a host directory", func(img *image, args []string) error {
		hostDir := args[len(args)-1]
		host := ufs.New(sys.Host(), hostDir)
		defer host.Close()
		if fi, err := host.Stat("."); err != nil {
			return err
		} else if !fi.IsDir() {
			return fmt.Errorf("%s: not a directory", hostDir)
		}
		prog := startProgress(out.err)
		defer prog.finish()
		// This goroutine is the only one that calls LKL (see copier):
		// keep it on one thread, which LKL knows as one task.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		c := newCopier(host, prog, out.err, copyWorkers)
		d, closeDirect := newDirect(img)
		defer closeDirect()
		c.direct = d
		for _, p := range args[:len(args)-1] {
			name := imagePath(p)
			if err := c.tree(img.fs, name, host, destName(name), destName(name)); err != nil {
				c.fail(err)
				break
			}
		}
		return c.wait()
	})
}
