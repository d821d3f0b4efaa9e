package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gokernel/gokernel/internal/cli"
	"github.com/gokernel/gokernel/unet"
)

func init() {
	var f imageFlags
	register(&cli.Command{
		Name:     "serve",
		Args:     "[flags] IMAGE [-listen 127.0.0.1:8080] [-get PATH]",
		Summary:  "serve a disk image over HTTP from inside LKL: its file system, TCP/IP stack and HTTP server, in-process",
		NoKernel: true,
		Help: `serve boots LKL with IMAGE mounted read-only and a rootless user network
(LKL at 10.0.2.15), serves the image with net/http's FileServer over ufs
on a unet listener inside LKL (port 80), and forwards the host address
-listen into it: the file system driver, the TCP/IP stack and the HTTP
server all run in this process, on the Linux kernel library. It prints
"listening on ADDR" as its first line, then the URL, and serves until
SIGINT or SIGTERM, then shuts down (in-flight requests finish) and halts
LKL.

With -get PATH it instead requests PATH once through the port forward with
the standard library's client, prints the status line, the body's size and
its first line, and stops.

` + imageHelp,
		Setup: func(fs *flag.FlagSet) func([]string) error {
			f.defineDisk(fs)
			f.readOnly = true
			listen := fs.String("listen", "127.0.0.1:8080", "the host address `host:port` to forward into LKL (port 0 picks one)")
			get := fs.String("get", "", "request `PATH` once through the forward, print it and stop")
			return func(args []string) error {
				args, err := cli.ParseAfterFirst(fs, args) // demo serve IMAGE -listen ADDR
				if err != nil {
					return err
				}
				if len(args) != 1 {
					return fmt.Errorf("%w: serve takes one image", errUsage)
				}
				return serveImage(args[0], f, *listen, *get)
			}
		},
	})
}

// serveGuestPort is the port of the HTTP server inside LKL.
const serveGuestPort = 80

// serveImage serves the image at path on the host address listen until a
// signal, or, with get, until that one request is done.
func serveImage(path string, f imageFlags, listen, get string) (err error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	img, err := openImage(path, f, true)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, img.close()) }()
	st, err := unet.New(img.kernel, unet.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	ln, err := st.Listen("tcp", net.JoinHostPort(img.guest, fmt.Sprint(serveGuestPort)))
	if err != nil {
		return err
	}
	defer ln.Close()
	host, err := img.forward(listen, serveGuestPort)
	if err != nil {
		return err
	}
	url := "http://" + host.String() + "/"
	cli.PrintListening(out.W, host.String())
	fmt.Fprintf(out.W, "serving %s (%s, read-only) at %s\n(net/http's FileServer on LKL's %s, the host's %s forwarded into it)\n",
		img.path, img.fstype, url, ln.Addr(), host)

	srv := &http.Server{Handler: http.FileServer(http.FS(img.fs)), ReadHeaderTimeout: 10 * time.Second}
	var get1 func() error
	if get != "" {
		get1 = func() error {
			return httpGet(url+strings.TrimPrefix(get, "/"), "from LKL through the port forward")
		}
	}
	return cli.ServeHTTP(ctx, srv, ln, get1)
}
