// Command demo is gokernel's tool for its users, on whichever kernel the
// environment selects (GOKERNEL=host, the default, or GOKERNEL=lkl in a
// binary built with -tags lkl): disk image tools that need no root and
// mount nothing on the host (ls, cat, cp-in, cp-out, tar, serve), an
// HTTP file server on the selected kernel's TCP/IP stack, and short
// tutorials of each layer (hello, readfile, trace, sysinfo, kernels,
// echo-blocking). The benchmarks are cmd/gkbench's.
//
// Usage:
//
//	demo <command> [arguments]
//	demo help <command>
//
// Every command prints its help with -h. Errors go to stderr and make the
// exit status non-zero.
package main

import (
	"github.com/gokernel/gokernel/internal/cli"
)

// prog is demo: its commands register themselves in init
// functions, one file each.
var prog = &cli.Program{
	Name:   "demo",
	Intro:  "demo shows gokernel working on the host kernel or on LKL.",
	Footer: "The kernel is chosen by GOKERNEL (host or lkl) and GOKERNEL_CONFIG.",
}

// The commands' shorthands for the program's parts.
var (
	register = prog.Register
	errUsage = cli.ErrUsage
	out      = &prog.Out
)

func main() { prog.Main() }
