//go:build !lkl

package main

import (
	"errors"
	"flag"
)

func init() {
	register(&command{
		name:    "lkl-info",
		summary: "show the running LKL kernel: uname, memory and mounts (needs -tags lkl)",
		setup: func(*flag.FlagSet) func([]string) error {
			return func([]string) error {
				return errors.New(`this demo was built without LKL: run "make lkl", then build with -tags lkl (make demo does both)`)
			}
		},
	})
}
