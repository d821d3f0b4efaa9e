//go:build !lkl

package main

import (
	"errors"
	"flag"

	"github.com/gokernel/gokernel/internal/cli"
)

func init() {
	register(&cli.Command{
		Name:    "lkl-info",
		Summary: "show the running LKL kernel: uname, memory and mounts (needs -tags lkl)",
		Setup: func(*flag.FlagSet) func([]string) error {
			return func([]string) error {
				return errors.New(`this demo was built without LKL: run "make lkl", then build with -tags lkl (make demo does both)`)
			}
		},
	})
}
