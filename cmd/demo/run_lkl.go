//go:build lkl

package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/gokernel/gokernel/supervise"
	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/sys/lkl"
)

// runProgram boots LKL as o says and runs args under the supervisor;
// it returns the program's exit status. SIGINT or SIGTERM to demo sends
// the program SIGTERM (a terminal's Ctrl-C reaches it directly too).
func runProgram(o runOpts, args []string) (int, error) {
	cfg := &lkl.Config{}
	if o.config != "" {
		var err error
		if cfg, err = lkl.LoadConfig(o.config); err != nil {
			return 0, err
		}
	} else {
		cfg.Interfaces = []lkl.Interface{{Type: "user"}}
	}
	for _, m := range o.mounts {
		cfg.Disks = append(cfg.Disks, lkl.Disk{Path: m.image, ReadOnly: m.readOnly, MountPoint: m.dir})
	}
	cfg.Forward = append(cfg.Forward, o.forwards...)
	k, err := lkl.Boot(cfg)
	if err != nil {
		return 0, err
	}
	defer k.Halt()
	// Without LKL fix 16 no call with a pointer could be answered: say
	// so now rather than refuse nearly every call.
	if _, err := k.ForProcess(os.Getpid()); err != nil {
		return 0, err
	}
	for i, a := range k.Forwards() {
		fmt.Fprintf(out.Err, "demo run: forwarding %s to LKL (%s)\n", a, cfg.Forward[i])
	}
	var dirs []string
	for _, m := range k.Mounts() {
		dirs = append(dirs, m.MountPoint)
	}
	// With a network, the program's resolver reads LKL's resolv.conf
	// (the user network's DNS forwarder, or the config's nameserver).
	var files []string
	if len(cfg.Interfaces) > 0 || cfg.Nameserver != "" {
		files = append(files, "/etc/resolv.conf")
	}
	so := supervise.Options{
		Kernel:     k,
		ForProcess: func(pid int) (sys.Kernel, error) { return k.ForProcess(pid) },
		Dirs:       dirs,
		Files:      files,
		Stdout:     os.Stdout,
		Stderr:     os.Stderr,
	}
	if out.W != os.Stdout {
		so.Stdout = out.W
	}
	if out.Err != os.Stderr {
		so.Stderr = out.Err
	}
	if o.trace {
		so.Trace = out.Err
	}
	if o.sockets == "lkl" {
		so.Sockets = supervise.SocketsLKL
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	code, err := supervise.Run(ctx, so, args)
	if herr := k.Halt(); herr != nil && err == nil {
		err = fmt.Errorf("halting LKL: %w", herr)
	}
	return code, err
}
