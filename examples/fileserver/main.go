// Command fileserver serves DIR over HTTP and fetches FILE from itself,
// printing its body. Files come through ufs and the connection through
// unet, so on LKL (GOKERNEL=lkl, built with -tags lkl) DIR is in LKL's file
// systems (a disk image GOKERNEL_CONFIG mounts) and the TCP connection runs
// over LKL's loopback, never the host's. The code does not change.
//
//	fileserver DIR FILE
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/ufs"
	"github.com/gokernel/gokernel/unet"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: fileserver DIR FILE")
		os.Exit(2)
	}
	err := run(os.Args[1], os.Args[2], os.Stdout)
	if serr := sys.Shutdown(); err == nil {
		err = serr
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fileserver:", err)
		os.Exit(1)
	}
}

func run(dir, file string, out io.Writer) error {
	k, err := sys.Init()
	if err != nil {
		return err
	}
	fsys := ufs.New(k, dir)
	defer fsys.Close()

	ln, err := unet.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: http.FileServer(http.FS(fsys)), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()

	tr := &http.Transport{DialContext: unet.DialContext}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	resp, err := client.Get("http://" + ln.Addr().String() + "/" + file)
	if err == nil {
		if resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("GET /%s: %s", file, resp.Status)
		} else {
			_, err = io.Copy(out, resp.Body)
		}
		resp.Body.Close()
	}
	tr.CloseIdleConnections()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if serr := srv.Shutdown(ctx); err == nil {
		err = serr
	}
	if serr := <-done; err == nil && !errors.Is(serr, http.ErrServerClosed) {
		err = serr
	}
	return err
}
