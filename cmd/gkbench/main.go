// Command gkbench is gokernel's benchmark tool: it runs servers built on
// each layer side by side with the standard library's and gnet's, as
// whole processes alternated on a shared machine, and prints medians and
// ratios. "make bench" runs it after the Go benchmarks.
//
//	gkbench echo-bench    TCP echo: eloop, unet, gnet and net (and eloop and unet on LKL)
//	gkbench http-bench    net/http over unet and net, demo serve on LKL, LKL clients through NAT
//	gkbench imagefuzz     mutated ext4, xfs, btrfs and vfat images through demo cp-out (issue #20; make fuzz-images)
//	cpbench.sh            demo cp-out against debugfs (a script beside this file)
//	diskbench.sh          disk sources side by side (a script; gkbench rangeserve is its HTTP server)
//	echofloor.sh          where an echo server's CPU goes (perf; a script)
//	httpfloor.sh          where an HTTP server's CPU goes, split by gkbench perf-split (perf; a script)
//
// The servers and load generators they run as children are commands of
// gkbench too (echo, load, http, http-load). The user's tool is
// cmd/demo; http-bench runs its serve command as one of the servers it
// measures.
//
// Usage:
//
//	gkbench <command> [arguments]
//	gkbench help <command>
package main

import (
	"github.com/gokernel/gokernel/internal/cli"
)

// prog is gkbench: its commands register themselves in init functions,
// one file each.
var prog = &cli.Program{
	Name:   "gkbench",
	Intro:  "gkbench measures gokernel's servers against the standard library's and gnet's.",
	Footer: "The kernel is chosen by GOKERNEL (host or lkl) and GOKERNEL_CONFIG; the bench commands choose it for their children.",
}

// The commands' shorthands for the program's parts.
var (
	register = prog.Register
	errUsage = cli.ErrUsage
	out      = &prog.Out
)

func main() { prog.Main() }
