package main

import (
	"flag"
	"fmt"
	"runtime"

	"github.com/gokernel/gokernel/internal/cli"
	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/ufs"
)

func init() {
	var f imageFlags
	register(&cli.Command{
		Name:    "cp-out",
		Args:    "[flags] IMAGE PATH... HOSTDIR",
		Summary: "copy files and directories out of a disk image into a host directory (cpfromfs)",
		Help: `cp-out copies each PATH inside the image, with everything under it, into
HOSTDIR (which must exist) under its own name; PATH / copies the image's
whole tree into HOSTDIR. Modes, times, symlinks and hard
links (between the files copied) are kept; devices, fifos and sockets are
skipped. A progress
line goes to stderr when it is a terminal.

` + imageHelp,
		NoKernel: true,
		Setup: func(fs *flag.FlagSet) func([]string) error {
			f.define(fs, true)
			return func(args []string) error { return imageCpOut(f, args) }
		},
	})
}

// cpOutWorkers is how many goroutines write the host's files while
// this one reads the image through LKL.
const cpOutWorkers = 4

func imageCpOut(f imageFlags, args []string) error {
	return onImage(f, args, 3, -1, "cp-out takes an image, one or more paths and a host directory", func(img *image, args []string) error {
		hostDir := args[len(args)-1]
		host := ufs.New(sys.Host(), hostDir)
		defer host.Close()
		if fi, err := host.Stat("."); err != nil {
			return hostPathErr(hostDir, err)
		} else if !fi.IsDir() {
			return fmt.Errorf("%s: not a directory", hostDir)
		}
		var names []string
		for _, p := range args[:len(args)-1] {
			names = append(names, imagePath(p))
		}
		prog := startProgress(out.Err)
		defer prog.finish()
		o := ufs.CopyOptions{Workers: cpOutWorkers, Progress: prog.add, Skipped: warnSkipped, Image: img.directSource()}
		if o.Image != nil {
			defer o.Image.Close()
		}
		// This goroutine is the only one that calls LKL (see
		// ufs.CopyTree): keep it on one thread, which LKL knows as one
		// task.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		return ufs.CopyTree(host, img.fs, names, o)
	})
}
