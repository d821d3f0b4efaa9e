//go:build !lkl

package main

import "errors"

// runProgram needs LKL.
func runProgram(runOpts, []string) (int, error) {
	return 0, errors.New("run needs LKL: build demo with -tags lkl (make lkl; docs/lkl-build.md)")
}
