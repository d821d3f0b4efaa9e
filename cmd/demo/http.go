package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gokernel/gokernel/internal/cli"
	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/unet"
)

func init() {
	register(&cli.Command{
		Name:    "http",
		Args:    "DIR [-listen host:port] [-get PATH]",
		Summary: "net/http's FileServer for DIR over a unet listener on the selected kernel",
		Help: `http serves the files of the host directory DIR with net/http's FileServer,
on a listener of unet, so the TCP connections are the selected kernel's
(GOKERNEL): with GOKERNEL=lkl, LKL's TCP/IP stack answers. It prints
"listening on ADDR" as its first line and serves until SIGINT or SIGTERM.

With -get PATH it instead requests PATH once from itself, with an
http.Client that dials through unet on the same kernel (on LKL that is the
only way to reach its loopback), prints the status line, the body's size
and its first line, and stops.`,
		Setup: func(fs *flag.FlagSet) func([]string) error {
			listen := fs.String("listen", "127.0.0.1:8080", "listen on `host:port` (port 0 picks one)")
			get := fs.String("get", "", "request `PATH` from the server in this process, print it and stop")
			return func(args []string) error {
				args, err := cli.ParseAfterFirst(fs, args) // demo http DIR -listen ADDR
				if err != nil {
					return err
				}
				if len(args) != 1 {
					return fmt.Errorf("%w: http takes one directory", errUsage)
				}
				if st, err := os.Stat(args[0]); err != nil || !st.IsDir() {
					return fmt.Errorf("%w: %s is not a directory", errUsage, args[0])
				}
				return httpServe(args[0], *listen, *get)
			}
		},
	})
}

// httpServe serves dir on listen until a signal, or, with get, until
// that one request is done.
func httpServe(dir, listen, get string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := unet.Listen("tcp", listen)
	if err != nil {
		return err
	}
	cli.PrintListening(out.W, ln.Addr().String())
	srv := &http.Server{Handler: http.FileServer(http.Dir(dir)), ReadHeaderTimeout: 10 * time.Second}
	var get1 func() error
	if get != "" {
		get1 = func() error {
			return httpGet("http://"+ln.Addr().String()+get, "over the "+sys.Default().Name()+" kernel's TCP")
		}
	}
	return cli.ServeHTTP(ctx, srv, ln, get1)
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
	first, _, _ := strings.Cut(string(body), "\n")
	fmt.Fprintf(out.W, "GET %s: %s, %d bytes %s\n%s\n", resp.Request.URL.Path, resp.Status, len(body), via, first)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}
