package main

import (
	"errors"
	"flag"
	"fmt"
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

func imageCat(f imageFlags, args []string) (err error) {
	if len(args) != 2 {
		return fmt.Errorf("%w: cat takes an image and a path", errUsage)
	}
	img, err := openImage(args[0], f)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, img.close()) }()
	file, err := img.fs.Open(imagePath(args[1]))
	if err != nil {
		return err
	}
	defer file.Close()
	_, err = io.Copy(out.w, file)
	return err
}
