package main

import (
	"flag"
	"fmt"
	"strings"

	"github.com/gokernel/gokernel/internal/cli"
	"github.com/gokernel/gokernel/supervise"
)

func init() {
	// A child of demo run is this program started again: it becomes the
	// program to run here, before anything else starts.
	supervise.Child()

	var o runOpts
	register(&cli.Command{
		Name:    "run",
		Args:    "[flags] [--] PROGRAM [ARGS...]",
		Summary: "run an unmodified program (static Go binaries too) with its network and the mounted images on LKL",
		Help: `run boots LKL in this process and runs PROGRAM in a child whose system
calls on sockets (inet, inet6, netlink, packet) and on paths under the
mounted directories are answered by LKL; every other call (the program's
own files, libraries, /proc, pipes, terminals) runs on the host. It is
lkl-hijack without LD_PRELOAD: the calls are intercepted by a seccomp
filter with user notification, so static binaries work too
(docs/run.md). demo run exits with the program's status.

--mount IMAGE:DIR[:ro] attaches a disk image to LKL and mounts its file
system at DIR (an absolute path): the program's paths under DIR are the
image's. --config FILE is an LKL configuration (the lkl-hijack JSON keys,
docs/kernels.md), whose disks with a mount point and port forwards apply
too. Without --config, LKL gets a user network (NAT to the host's
network, DNS at 10.0.2.3; docs/networking.md); --forward adds port forwards
(tcp:HOSTADDR:HOSTPORT:GUESTPORT), each printed on stderr with its host
address. --sockets=lkl gives the program LKL's fds for its TCP sockets
(every call on them a round trip to the supervisor) instead of the
default bridges. --trace prints every intercepted call on stderr with the kernel that
answered it ([lkl], or [host] for a call the host then ran), and each
kind of call refused once.`,
		NoKernel: true,
		Setup: func(fs *flag.FlagSet) func([]string) error {
			fs.StringVar(&o.config, "config", "", "LKL's configuration `FILE` (JSON)")
			fs.Func("mount", "mount `IMAGE:DIR[:ro]` in LKL at DIR (repeat for more)", func(s string) error {
				m, err := parseRunMount(s)
				if err == nil {
					o.mounts = append(o.mounts, m)
				}
				return err
			})
			fs.Func("forward", "forward `tcp:HOSTADDR:HOSTPORT:GUESTPORT` into LKL (repeat for more)", func(s string) error {
				o.forwards = append(o.forwards, s)
				return nil
			})
			fs.BoolVar(&o.trace, "trace", false, "print the intercepted calls on stderr")
			fs.StringVar(&o.sockets, "sockets", "bridge", "how the program's TCP sockets reach LKL: `bridge` (host socket pairs bridged to LKL's sockets: reads and writes without a round trip) or lkl (LKL's fds: every call a round trip)")
			return func(args []string) error {
				if len(args) == 0 {
					return fmt.Errorf("%w: run needs a program", errUsage)
				}
				if o.sockets != "bridge" && o.sockets != "lkl" {
					return fmt.Errorf("%w: --sockets=%q: want bridge or lkl", errUsage, o.sockets)
				}
				code, err := runProgram(o, args)
				if err != nil {
					return err
				}
				if code != 0 {
					return &cli.ExitError{Code: code}
				}
				return nil
			}
		},
	})
}

// runOpts are demo run's flags.
type runOpts struct {
	config   string
	mounts   []runMount
	forwards []string
	trace    bool
	sockets  string // "bridge" or "lkl"
}

// A runMount is one --mount: an image mounted in LKL at dir.
type runMount struct {
	image, dir string
	readOnly   bool
}

// parseRunMount parses IMAGE:DIR[:ro]. The image is what comes before
// the last ":/" (so a URL image keeps its colons).
func parseRunMount(s string) (runMount, error) {
	var m runMount
	if rest, ok := strings.CutSuffix(s, ":ro"); ok {
		s, m.readOnly = rest, true
	}
	i := strings.LastIndex(s, ":/")
	if i <= 0 {
		return m, fmt.Errorf("%q: want IMAGE:DIR[:ro] with DIR absolute", s)
	}
	m.image, m.dir = s[:i], s[i+1:]
	return m, nil
}
