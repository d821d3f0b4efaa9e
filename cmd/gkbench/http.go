package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gokernel/gokernel/internal/cli"
	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/unet"
)

func init() {
	register(&cli.Command{
		Name:    "http",
		Args:    "DIR [-listen host:port] [-api unet|net] [-self-load]",
		Summary: "http-bench's server: net/http's FileServer for DIR over unet or net",
		Help: `http serves the files of the host directory DIR with net/http's FileServer
on a listener of unet (-api unet: the selected kernel's TCP, GOKERNEL) or
of the standard library (-api net, host kernel only), as "demo http" does.
It prints "listening on ADDR" as its first line and serves until SIGINT or
SIGTERM.

-self-load runs http-bench's client load in this process through unet,
prints its result and stops: on LKL only this process reaches LKL's
loopback.`,
		Setup: func(fs *flag.FlagSet) func([]string) error {
			var o httpOptions
			fs.StringVar(&o.listen, "listen", "127.0.0.1:8080", "listen on `host:port` (port 0 picks one)")
			fs.StringVar(&o.api, "api", "unet", "the listener: `unet` or net")
			fs.BoolVar(&o.selfLoad, "self-load", false, "run the client load in this process, then stop")
			fs.IntVar(&o.clients, "clients", 50, "(with -self-load) concurrent keep-alive clients")
			fs.DurationVar(&o.duration, "duration", 3*time.Second, "(with -self-load) how long to run")
			return func(args []string) error {
				args, err := cli.ParseAfterFirst(fs, args) // gkbench http DIR -listen ADDR
				if err != nil {
					return err
				}
				if len(args) != 1 {
					return fmt.Errorf("%w: http takes one directory", errUsage)
				}
				if st, err := os.Stat(args[0]); err != nil || !st.IsDir() {
					return fmt.Errorf("%w: %s is not a directory", errUsage, args[0])
				}
				o.dir = args[0]
				return httpServe(o)
			}
		},
	})
}

type httpOptions struct {
	dir, listen, api string
	selfLoad         bool
	clients          int
	duration         time.Duration
}

// httpServe serves o.dir on o.listen until a signal, or, with
// o.selfLoad, until that load is done.
func httpServe(o httpOptions) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	listen := unet.Listen
	switch {
	case o.api == "net" && !sys.IsHost(sys.Default()):
		return fmt.Errorf("http -api net runs on the host kernel only, not on %s", sys.Default().Name())
	case o.api == "net":
		listen = net.Listen
	case o.api != "unet":
		return fmt.Errorf("%w: -api %q: want unet or net", errUsage, o.api)
	}
	ln, err := listen("tcp", o.listen)
	if err != nil {
		return err
	}
	cli.PrintListening(out.W, ln.Addr().String())
	if o.api == "unet" {
		if s, err := unet.Default(); err == nil {
			fmt.Fprintf(out.Err, "unet backend: %v\n", s.Backend())
		}
	}
	srv := &http.Server{Handler: http.FileServer(http.Dir(o.dir)), ReadHeaderTimeout: 10 * time.Second}
	var action func() error
	if o.selfLoad {
		action = func() error {
			res, err := httpLoad(o.clients, o.duration, os.Getpid(), "http://"+ln.Addr().String()+"/"+httpBenchFile, o.dir, unet.DialContext)
			if err == nil {
				fmt.Fprintf(out.W, "%s (%s kernel, in-process client; cpu/msg is the whole process)\n", res, sys.Default().Name())
			}
			return err
		}
	}
	return cli.ServeHTTP(ctx, srv, ln, action)
}
