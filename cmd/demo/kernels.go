package main

import (
	"flag"
	"fmt"
	"slices"

	"github.com/gokernel/gokernel/internal/cli"
	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/sys/lkl"
)

func init() {
	register(&cli.Command{
		Name:     "kernels",
		Summary:  "list the kernels this binary can run and which one is selected",
		NoKernel: true,
		Help: `kernels reads GOKERNEL and GOKERNEL_CONFIG but starts nothing, so it also
explains a selection that would fail.`,
		Setup: func(*flag.FlagSet) func([]string) error { return kernels },
	})
}

func kernels(args []string) error {
	if len(args) != 0 {
		return fmt.Errorf("%w: kernels takes no arguments", errUsage)
	}
	name, config := sys.Selected()
	have := sys.Kernels()
	fmt.Fprintln(out.W, "kernels in this binary:")
	for _, k := range have {
		mark := ""
		if k == name {
			mark = "  (selected)"
		}
		fmt.Fprintf(out.W, "  %s%s\n", k, mark)
	}
	if !slices.Contains(have, "lkl") {
		fmt.Fprintln(out.W, "not in this binary:\n  lkl  (make lkl, then build with -tags lkl)")
	}
	if config == "" {
		config = "(none)"
	}
	fmt.Fprintf(out.W, "selected: %s, configuration: %s\n", name, config)
	if name == "lkl" {
		fmt.Fprintf(out.W, "lkl runs: %s\n", lklMode(config))
	}
	if !slices.Contains(have, name) {
		_, err := sys.Open(name, "")
		return err
	}
	return nil
}

// lklMode says where the configuration file config runs LKL.
func lklMode(config string) string {
	if config == "(none)" {
		return "in this process (no configuration)"
	}
	c, err := lkl.LoadConfig(config)
	if err != nil {
		return fmt.Sprintf("unknown: %v", err)
	}
	if c.Isolated() {
		return `isolated, in a sandboxed child process ("isolation": "process")`
	}
	return `in this process (set "isolation": "process" to isolate it)`
}
