package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/gokernel/gokernel/internal/cli"
	"github.com/gokernel/gokernel/sys"
)

func init() {
	register(&cli.Command{
		Name:    "trace",
		Args:    "[-o file] -- command [arguments]",
		Summary: "run another demo command and print each system call it makes",
		Help: `trace wraps the selected kernel in sys.NewTracer and runs the command on
it, printing one strace-like line per call:

	[host] write(0x1, 0xc000012000, 0xd) = 13 <4.1µs>

GOKERNEL_TRACE=1 does the same for any program built on gokernel.`,
		Setup: func(fs *flag.FlagSet) func([]string) error {
			file := fs.String("o", "", "write the trace to `file` instead of stderr")
			return func(args []string) error { return trace(*file, args) }
		},
	})
}

func trace(file string, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: trace needs a command to run", errUsage)
	}
	if args[0] == "trace" {
		return fmt.Errorf("%w: trace cannot trace itself", errUsage)
	}
	w := out.Err
	if file != "" {
		f, err := os.Create(file)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	sys.SetDefault(sys.NewTracer(sys.Default(), sys.WriteTrace(w)))
	return prog.RunCommand(args, out.W, out.Err)
}
