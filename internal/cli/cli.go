package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/gokernel/gokernel/sys"
)

// A Command is one subcommand of a Program.
type Command struct {
	Name    string
	Args    string // argument synopsis for the usage line
	Summary string // one line for the command list
	Help    string // more, for "PROGRAM help NAME"
	// NoKernel commands run without starting the default kernel.
	NoKernel bool
	// Setup defines the command's flags on fs and returns the function
	// that runs it with the arguments left after the flags.
	Setup func(fs *flag.FlagSet) func(args []string) error
}

// ErrUsage marks an error in how a program was called: Run prints the
// command's usage and exits with status 2.
var ErrUsage = errors.New("usage")

// An ExitError ends a command with status Code and prints nothing more:
// the command has said what happened (demo run exits with its program's
// status).
type ExitError struct{ Code int }

func (e *ExitError) Error() string { return fmt.Sprintf("exit status %d", e.Code) }

// Output is where a Program's commands print; Run sets it, so tests can
// capture it.
type Output struct{ W, Err io.Writer }

// A Program is a command with subcommands, such as demo.
type Program struct {
	Name  string // as typed: "demo"
	Intro string // the first line of the usage
	// Footer follows the command list in the usage.
	Footer string
	Out    Output

	commands []*Command
}

// Register adds c to p; each command's file calls it in an init function.
// It registers the help command first.
func (p *Program) Register(c *Command) {
	if p.commands == nil {
		p.commands = []*Command{p.helpCommand()}
	}
	p.commands = append(p.commands, c)
}

// Lookup returns the command called name, or nil.
func (p *Program) Lookup(name string) *Command {
	for _, c := range p.commands {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// isHelp reports whether arg asks for the program's help.
func isHelp(arg string) bool { return arg == "-h" || arg == "-help" || arg == "--help" }

// Main runs p with the process's arguments and exits with its status.
func (p *Program) Main() {
	os.Exit(p.Run(os.Args[1:], os.Stdout, os.Stderr))
}

// Run executes one invocation of p and returns the exit status: 0, 1 for
// a failed command, 2 for a usage error. "-h", "--help" and "help" print
// the usage on stdout.
func (p *Program) Run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		p.Usage(stderr)
		return 2
	}
	if isHelp(args[0]) {
		args = append([]string{"help"}, args[1:]...)
	}
	err := p.RunCommand(args, stdout, stderr)
	// Halt a kernel that needs it (LKL: unmount and flush its disks)
	// before the process exits.
	if herr := sys.Shutdown(); herr != nil {
		err = errors.Join(err, fmt.Errorf("halting the kernel: %w", herr))
	}
	var exit *ExitError
	switch {
	case err == nil || errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &exit):
		if err != error(exit) { // and something more went wrong
			fmt.Fprintf(stderr, "%s: %v\n", p.Name, err)
		}
		return exit.Code
	case errors.Is(err, ErrUsage):
		fmt.Fprintf(stderr, "%s: %v\n", p.Name, err)
		return 2
	default:
		fmt.Fprintf(stderr, "%s: %v\n", p.Name, err)
		return 1
	}
}

// RunCommand runs the command args[0] with the arguments after it,
// printing to stdout and stderr; commands that run other commands (demo
// trace) call it.
func (p *Program) RunCommand(args []string, stdout, stderr io.Writer) error {
	c := p.Lookup(args[0])
	if c == nil {
		p.Usage(stderr)
		return fmt.Errorf("%w: unknown command %q", ErrUsage, args[0])
	}
	fs := flag.NewFlagSet(c.Name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { p.commandUsage(stderr, c, fs) }
	p.Out.W, p.Out.Err = stdout, stderr
	runc := c.Setup(fs)
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if !c.NoKernel {
		if _, err := sys.Init(); err != nil {
			return err
		}
	}
	err := runc(fs.Args())
	if errors.Is(err, ErrUsage) {
		fs.Usage()
	}
	return err
}

// Usage prints p's usage: what it is and its commands.
func (p *Program) Usage(w io.Writer) {
	fmt.Fprintf(w, "%s\n\nUsage:\n\n\t%s <command> [arguments]\n\nCommands:\n\n", p.Intro, p.Name)
	cs := slices.Clone(p.commands)
	slices.SortFunc(cs, func(a, b *Command) int { return strings.Compare(a.Name, b.Name) })
	for _, c := range cs {
		fmt.Fprintf(w, "\t%-14s %s\n", c.Name, c.Summary)
	}
	fmt.Fprintf(w, "\n%s\nRun \"%s help <command>\" for more about a command.\n", p.Footer, p.Name)
}

func (p *Program) commandUsage(w io.Writer, c *Command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "usage: %s %s %s\n\n%s\n", p.Name, c.Name, c.Args, c.Summary)
	if c.Help != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(c.Help))
	}
	hasFlags := false
	fs.VisitAll(func(*flag.Flag) { hasFlags = true })
	if hasFlags {
		fmt.Fprintf(w, "\nFlags:\n")
		fs.PrintDefaults()
	}
}

func (p *Program) helpCommand() *Command {
	return &Command{
		Name:     "help",
		Args:     "[command]",
		Summary:  "show help for " + p.Name + " or one of its commands",
		NoKernel: true,
		Setup: func(*flag.FlagSet) func([]string) error {
			return func(args []string) error {
				switch len(args) {
				case 0:
					p.Usage(p.Out.W)
					return nil
				case 1:
					c := p.Lookup(args[0])
					if c == nil {
						return fmt.Errorf("%w: unknown command %q", ErrUsage, args[0])
					}
					cfs := flag.NewFlagSet(c.Name, flag.ContinueOnError)
					cfs.SetOutput(p.Out.W)
					c.Setup(cfs) // defines the flags; the command does not run
					p.commandUsage(p.Out.W, c, cfs)
					return nil
				}
				return fmt.Errorf("%w: help takes at most one command", ErrUsage)
			}
		},
	}
}

// ParseAfterFirst parses the flags that follow the first of args (the
// flag package stops at it: "demo http DIR -listen ADDR") and returns the
// arguments left.
func ParseAfterFirst(fs *flag.FlagSet, args []string) ([]string, error) {
	if len(args) <= 1 {
		return args, nil
	}
	if err := fs.Parse(args[1:]); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUsage, err)
	}
	return append([]string{args[0]}, fs.Args()...), nil
}

// PrintListening prints "listening on ADDR", the first line of every
// server command, and flushes it when w is a file (a parent process
// waits for it).
func PrintListening(w io.Writer, addr string) {
	fmt.Fprintf(w, "listening on %s\n", addr)
	if f, ok := w.(*os.File); ok {
		f.Sync()
	}
}

// ServeHTTP serves srv on ln. With action it runs action and stops,
// else it serves until ctx is done; then it shuts srv down, letting
// requests in flight finish (for at most 5 s).
func ServeHTTP(ctx context.Context, srv *http.Server, ln net.Listener, action func() error) error {
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	var err error
	if action != nil {
		err = action()
	} else {
		select {
		case <-ctx.Done():
		case err := <-served:
			return err
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if serr := srv.Shutdown(sctx); serr != nil {
		err = errors.Join(err, serr)
	}
	if serr := <-served; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}
