package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gokernel/gokernel/internal/cli"
)

func init() {
	register(&cli.Command{
		Name:     "rangeserve",
		Args:     "[-addr host:port] DIR",
		Summary:  "serve DIR's files over HTTP with Range requests (diskbench.sh's image server)",
		NoKernel: true,
		Help: `rangeserve serves the regular files of DIR over HTTP/1.1 on the host's
network, with byte ranges, ETag and Last-Modified (net/http's ServeContent
over the open file, so ranges are sent with sendfile), many connections at
once, until it gets SIGINT or SIGTERM. It prints "listening on ADDR" as its
first line.

GET /__bytes answers the number of body bytes served since the last
/__bytes (ranged or not) and starts counting again: diskbench.sh reads how
much "demo ls" of an image over HTTP fetched.`,
		Setup: func(fs *flag.FlagSet) func([]string) error {
			addr := fs.String("addr", "127.0.0.1:0", "listen on `host:port` (port 0 picks one)")
			return func(args []string) error {
				if len(args) != 1 {
					return fmt.Errorf("%w: rangeserve takes one directory", errUsage)
				}
				ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
				defer stop()
				return rangeServe(ctx, *addr, args[0], func(a net.Addr) { cli.PrintListening(out.W, a.String()) })
			}
		},
	})
}

// rangeServe serves dir's files on addr until ctx ends, calling ready with
// the address once it listens.
func rangeServe(ctx context.Context, addr, dir string, ready func(net.Addr)) error {
	root, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if fi, err := os.Stat(root); err != nil {
		return err
	} else if !fi.IsDir() {
		return fmt.Errorf("%s: not a directory", dir)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: &rangeHandler{root: root}, ReadHeaderTimeout: 10 * time.Second}
	ready(ln.Addr())
	return cli.ServeHTTP(ctx, srv, ln, nil)
}

// rangeHandler serves the files under root and counts the body bytes it
// sent.
type rangeHandler struct {
	root   string
	served atomic.Int64
}

func (h *rangeHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/__bytes" {
		fmt.Fprintf(w, "%d\n", h.served.Swap(0))
		return
	}
	rel := filepath.FromSlash(strings.TrimPrefix(filepath.Clean("/"+r.URL.Path), "/"))
	f, err := os.Open(filepath.Join(h.root, rel))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("ETag", fmt.Sprintf(`"%x-%x"`, fi.ModTime().UnixNano(), fi.Size()))
	http.ServeContent(&countingWriter{ResponseWriter: w, n: &h.served}, r, fi.Name(), fi.ModTime(), f)
}

// countingWriter adds the body bytes written through it to n. Its
// ReadFrom keeps the ResponseWriter's (sendfile for a file).
type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	k, err := c.ResponseWriter.Write(p)
	c.n.Add(int64(k))
	return k, err
}

func (c *countingWriter) ReadFrom(r io.Reader) (int64, error) {
	k, err := io.Copy(c.ResponseWriter, r)
	c.n.Add(k)
	return k, err
}
