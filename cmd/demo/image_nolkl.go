//go:build !lkl

package main

import "errors"

// openImage needs LKL, which this build lacks.
func openImage(string, imageFlags, bool) (*image, error) {
	return nil, errors.New(`the image tools need LKL: run "make lkl", then build with -tags lkl (make demo does both)`)
}
