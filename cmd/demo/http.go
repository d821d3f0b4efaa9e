package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
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
		args:    "DIR [-listen host:port] [-get PATH]",
		summary: "net/http's FileServer for DIR over a unet listener on the selected kernel",
		help: `http serves the files of the host directory DIR with net/http's FileServer,
on a listener of unet, so the TCP connections are the selected kernel's
(GOKERNEL): with GOKERNEL=lkl, LKL's TCP/IP stack answers. It prints
"listening on ADDR" as its first line and serves until SIGINT or SIGTERM.

With -get PATH it instead requests PATH once from itself, with an
http.Client that dials through unet on the same kernel (on LKL that is the
only way to reach its loopback), prints the status line, the body's size
and its first line, and stops.`,
		setup: func(fs *flag.FlagSet) func([]string) error {
			listen := fs.String("listen", "127.0.0.1:8080", "listen on `host:port` (port 0 picks one)")
			get := fs.String("get", "", "request `PATH` from the server in this process, print it and stop")
			return func(args []string) error {
				if len(args) > 1 { // flags may follow DIR: demo http DIR -listen ADDR
					dir := args[0]
					if err := fs.Parse(args[1:]); err != nil {
						return fmt.Errorf("%w: %v", errUsage, err)
					}
					args = append([]string{dir}, fs.Args()...)
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
// that one request has been answered.
func httpServe(dir, listen, get string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := unet.Listen("tcp", listen)
	if err != nil {
		return err
	}
	printListening(ln.Addr().String())
	srv := &http.Server{Handler: http.FileServer(http.Dir(dir)), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	var gerr error
	if get != "" {
		gerr = httpGet("http://"+ln.Addr().String()+get, sys.Default().Name())
	} else {
		select {
		case <-ctx.Done():
		case err := <-served:
			return err
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		gerr = errors.Join(gerr, err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		gerr = errors.Join(gerr, err)
	}
	return gerr
}

// httpGet requests url through unet and prints what came back.
func httpGet(url, kernel string) error {
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
	fmt.Fprintf(out.w, "GET %s: %s, %d bytes over the %s kernel's TCP\n%s\n", resp.Request.URL.Path, resp.Status, len(body), kernel, first)
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
