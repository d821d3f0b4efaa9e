package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/gokernel/gokernel/internal/cli"
	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/unet"
)

// echoUnetSelfLoad serves echo with unet's net.Conn on the selected
// kernel and runs the load generator in this process, dialing through
// unet on the same kernel (the only way to reach LKL's loopback), then
// prints its result and stops.
func echoUnetSelfLoad(ctx context.Context, o echoOptions) error {
	ln, err := unet.Listen("tcp", o.addr)
	if err != nil {
		return err
	}
	cli.PrintListening(out.W, ln.Addr().String())
	ctx, cancel := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- serveEcho(ctx, ln) }()
	addr := ln.Addr().String()
	o.load.selfAndKernel()
	res, lerr := runLoad(o.load, func() (io.ReadWriteCloser, error) { return unet.Dial("tcp", addr) })
	cancel()
	if err := <-served; err != nil && !errors.Is(err, context.Canceled) {
		lerr = errors.Join(lerr, err)
	}
	if lerr != nil {
		return lerr
	}
	fmt.Fprintf(out.W, "%s (%s kernel, in-process client; cpu/msg is the whole process)\n", res, sys.Default().Name())
	return nil
}
