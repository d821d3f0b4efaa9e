package main

import (
	"flag"
	"io"
)

func init() {
	var f imageFlags
	register(&command{
		name:     "cat",
		args:     "[flags] IMAGE PATH",
		summary:  "print a file inside a disk image, without mounting it on the host",
		help:     imageHelp,
		noKernel: true,
		setup: func(fs *flag.FlagSet) func([]string) error {
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
		_, err = io.Copy(out.w, file)
		return err
	})
}
