package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/unet"
)

func init() {
	register(&command{
		name:    "http",
		args:    "DIR [-listen host:port] [-api unet|net] [-get PATH]",
		summary: "net/http's FileServer for DIR over a unet listener on the selected kernel",
		help: `http serves the files of the host directory DIR with net/http's FileServer,
on a listener of unet, so the TCP connections are the selected kernel's
(GOKERNEL): with GOKERNEL=lkl, LKL's TCP/IP stack answers. It prints
"listening on ADDR" as its first line and serves until SIGINT or SIGTERM.

With -get PATH it instead requests PATH once from itself, with an
http.Client that dials through unet on the same kernel (on LKL that is the
only way to reach its loopback), prints the status line, the body's size
and its first line, and stops.

-api net serves with the standard library's net.Listen instead (host
kernel only): http-bench compares the two. -self-load (for http-bench)
runs http-bench's client load in this process through unet, prints its
result and stops.`,
		setup: func(fs *flag.FlagSet) func([]string) error {
			listen := fs.String("listen", "127.0.0.1:8080", "listen on `host:port` (port 0 picks one)")
			var o httpOptions
			fs.StringVar(&o.api, "api", "unet", "the listener: `unet` or net")
			get := fs.String("get", "", "request `PATH` from the server in this process, print it and stop")
			fs.BoolVar(&o.selfLoad, "self-load", false, "(http-bench) run the client load in this process, then stop")
			fs.IntVar(&o.clients, "clients", 50, "(with -self-load) concurrent keep-alive clients")
			fs.DurationVar(&o.duration, "duration", 3*time.Second, "(with -self-load) how long to run")
			return func(args []string) error {
				args, err := flagsAfterFirst(fs, args) // demo http DIR -listen ADDR
				if err != nil {
					return err
				}
				if len(args) != 1 {
					return fmt.Errorf("%w: http takes one directory", errUsage)
				}
				if st, err := os.Stat(args[0]); err != nil || !st.IsDir() {
					return fmt.Errorf("%w: %s is not a directory", errUsage, args[0])
				}
				o.dir, o.listen, o.get = args[0], *listen, *get
				return httpServe(o)
			}
		},
	})
}

type httpOptions struct {
	dir, listen, get, api string
	selfLoad              bool
	clients               int
	duration              time.Duration
}

// httpServe serves o.dir on o.listen until a signal, or, with o.get or
// o.selfLoad, until that request or load is done.
func httpServe(o httpOptions) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	listen := unet.Listen
	switch {
	case o.api == "net" && sys.Default().Name() != "host":
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
	printListening(ln.Addr().String())
	srv := &http.Server{Handler: http.FileServer(http.Dir(o.dir)), ReadHeaderTimeout: 10 * time.Second}
	var action func() error
	switch {
	case o.get != "":
		action = func() error {
			return httpGet("http://"+ln.Addr().String()+o.get, "over the "+sys.Default().Name()+" kernel's TCP")
		}
	case o.selfLoad:
		action = func() error {
			res, err := httpLoad(o.clients, o.duration, os.Getpid(), "http://"+ln.Addr().String()+"/"+httpBenchFile, o.dir, unet.DialContext)
			if err == nil {
				fmt.Fprintf(out.w, "%s (%s kernel, in-process client; cpu/msg is the whole process)\n", res, sys.Default().Name())
			}
			return err
		}
	}
	return serveHTTP(ctx, srv, ln, action)
}

// serveHTTP serves srv on ln. With action it runs action and stops,
// else it serves until ctx is done; then it shuts srv down, letting
// requests in flight finish (for at most 5 s).
func serveHTTP(ctx context.Context, srv *http.Server, ln net.Listener, action func() error) error {
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

// flagsAfterFirst parses the flags that follow the first of args (the
// flag package stops at it) and returns the arguments left.
func flagsAfterFirst(fs *flag.FlagSet, args []string) ([]string, error) {
	if len(args) <= 1 {
		return args, nil
	}
	if err := fs.Parse(args[1:]); err != nil {
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	return append([]string{args[0]}, fs.Args()...), nil
}

// httpGet requests url through unet and prints what came back, saying
// how the bytes came (via).
func httpGet(url, via string) error {
	tr := &http.Transport{DialContext: unet.DialContext}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	first, _, _ := cutLine(string(body))
	fmt.Fprintf(out.w, "GET %s: %s, %d bytes %s\n%s\n", resp.Request.URL.Path, resp.Status, len(body), via, first)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

func cutLine(s string) (string, string, bool) {
	for i := range len(s) {
		if s[i] == '\n' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}
