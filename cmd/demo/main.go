// Command demo shows gokernel's layers working, on whichever kernel the
// environment selects (GOKERNEL=host, the default, or GOKERNEL=lkl in a
// binary built with -tags lkl).
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
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/gokernel/gokernel/sys"
)

// A command is one subcommand of demo.
type command struct {
	name    string
	args    string // argument synopsis for the usage line
	summary string // one line for the command list
	help    string // more, for "demo help NAME"
	// noKernel commands run without starting the default kernel.
	noKernel bool
	// setup defines the command's flags on fs and returns the function
	// that runs it with the arguments left after the flags.
	setup func(fs *flag.FlagSet) func(args []string) error
}

// commands is filled by each command's file in an init function.
var commands []*command

func register(c *command) { commands = append(commands, c) }

func lookup(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// errUsage marks an error in how demo was called (exit status 2).
var errUsage = errors.New("usage")

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one demo invocation and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	err := runCommand(args, stdout, stderr)
	// Halt a kernel that needs it (LKL: unmount and flush its disks)
	// before the process exits.
	if herr := sys.Shutdown(); herr != nil {
		err = errors.Join(err, fmt.Errorf("halting the kernel: %w", herr))
	}
	switch {
	case err == nil || errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintln(stderr, "demo:", err)
		return 2
	default:
		fmt.Fprintln(stderr, "demo:", err)
		return 1
	}
}

func runCommand(args []string, stdout, stderr io.Writer) error {
	c := lookup(args[0])
	if c == nil {
		usage(stderr)
		return fmt.Errorf("%w: unknown command %q", errUsage, args[0])
	}
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { commandUsage(stderr, c, fs) }
	out.w, out.err = stdout, stderr
	runc := c.setup(fs)
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if !c.noKernel {
		if _, err := sys.Init(); err != nil {
			return err
		}
	}
	err := runc(fs.Args())
	if errors.Is(err, errUsage) {
		fs.Usage()
	}
	return err
}

// out is where commands print; run sets it, so tests can capture it.
var out struct{ w, err io.Writer }

func usage(w io.Writer) {
	fmt.Fprintf(w, "demo shows gokernel working on the host kernel or on LKL.\n\nUsage:\n\n\tdemo <command> [arguments]\n\nCommands:\n\n")
	cs := slices.Clone(commands)
	slices.SortFunc(cs, func(a, b *command) int { return strings.Compare(a.name, b.name) })
	for _, c := range cs {
		fmt.Fprintf(w, "\t%-14s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nThe kernel is chosen by GOKERNEL (host or lkl) and GOKERNEL_CONFIG.\n"+
		"Run \"demo help <command>\" for more about a command.\n")
}

func commandUsage(w io.Writer, c *command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "usage: demo %s %s\n\n%s\n", c.name, c.args, c.summary)
	if c.help != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(c.help))
	}
	hasFlags := false
	fs.VisitAll(func(*flag.Flag) { hasFlags = true })
	if hasFlags {
		fmt.Fprintf(w, "\nFlags:\n")
		fs.PrintDefaults()
	}
}

func init() {
	register(&command{
		name:     "help",
		args:     "[command]",
		summary:  "show help for demo or one of its commands",
		noKernel: true,
		setup: func(*flag.FlagSet) func([]string) error {
			return func(args []string) error {
				switch len(args) {
				case 0:
					usage(out.w)
					return nil
				case 1:
					c := lookup(args[0])
					if c == nil {
						return fmt.Errorf("%w: unknown command %q", errUsage, args[0])
					}
					cfs := flag.NewFlagSet(c.name, flag.ContinueOnError)
					cfs.SetOutput(out.w)
					c.setup(cfs) // defines the flags; the command does not run
					commandUsage(out.w, c, cfs)
					return nil
				}
				return fmt.Errorf("%w: help takes at most one command", errUsage)
			}
		},
	})
}
