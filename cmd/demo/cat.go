package main

import (
	"flag"
	"io"

	"github.com/gokernel/gokernel/internal/cli"
)

func init() {
	var f imageFlags
	register(&cli.Command{
		Name:     "cat",
		Args:     "[flags] IMAGE PATH",
		Summary:  "print a file inside a disk image, without mounting it on the host",
		Help:     imageHelp,
		NoKernel: true,
		Setup: func(fs *flag.FlagSet) func([]string) error {
			f.define(fs, true)
			return func(args []string) error { return imageCat(f, args) }
		},
	})
}

func imageCat(f imageFlags, args []string) error {
	return onImage(f, args, 2, 2, "cat takes an image and a path", func(img *image, args []string) error {
		file, err := img.fs.Open(imagePath(args[0]))
		if err != nil {
			return err
		}
		defer file.Close()
		_, err = io.Copy(out.W, file)
		return err
	})
}
