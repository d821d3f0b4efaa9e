//go:build lkl

package lkl_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/sys/lkl"
)

func init() { children["net-bench"] = childNetBench }

// BenchmarkUserNetworkTCP streams b.N MiB through the user network in a
// child: dir=in from a host client through a port forward to a reader in
// LKL, dir=out from LKL through the NAT to a reader on the host. MB/s
// counts the stream alone (connect to the receiver's acknowledgement of
// the last byte), not the child's boot. -benchtime=1024x streams 1 GiB.
func BenchmarkUserNetworkTCP(b *testing.B) {
	links := []struct{ name, mtu, offload string }{
		{"mtu=1500", "1500", ""},
		{"mtu=9000", "", ""}, // the default
		{"mtu=9000/csum=off", "", "0x2"},
	}
	for _, l := range links {
		for _, dir := range []string{"in", "out"} {
			b.Run(l.name+"/dir="+dir, func(b *testing.B) {
				out := child(b, "net-bench", "GOKERNEL_NET_BENCH="+strings.Join([]string{dir, strconv.Itoa(b.N << 20), l.mtu, l.offload}, ","))
				ns, err := strconv.ParseInt(strings.TrimSpace(out), 10, 64)
				if err != nil {
					b.Fatalf("child printed %q", out)
				}
				b.ReportMetric(float64(b.N<<20)/(float64(ns)/1e9)/1e6, "MB/s")
			})
		}
	}
}

// childNetBench runs one stream as GOKERNEL_NET_BENCH=dir,bytes,mtu,offload
// says and prints its duration in nanoseconds.
func childNetBench() error {
	args := strings.Split(os.Getenv("GOKERNEL_NET_BENCH"), ",")
	if len(args) != 4 {
		return errors.New("GOKERNEL_NET_BENCH: want dir,bytes,mtu,offload")
	}
	dir, mtu, offload := args[0], args[2], args[3]
	size, _ := strconv.ParseInt(args[1], 10, 64)
	cfg := &lkl.Config{
		Memory:     "256M",
		Sysctl:     "net.ipv4.tcp_rmem=4096 1048576 8388608;net.ipv4.tcp_wmem=4096 1048576 8388608",
		Interfaces: []lkl.Interface{{Type: "user", MTU: mtu, Offload: offload}},
	}
	if dir == "in" {
		cfg.Forward = []string{"tcp:127.0.0.1:0:80"}
	}
	k, err := lkl.Boot(cfg)
	if err != nil {
		return err
	}
	defer k.Halt()
	var d time.Duration
	if dir == "in" {
		d, err = streamIn(k, size)
	} else {
		d, err = streamOut(k, size)
	}
	if err != nil {
		return err
	}
	fmt.Println(d.Nanoseconds())
	return nil
}

// sink reads r to EOF, then acknowledges with one byte on w.
func sink(r io.Reader, w io.Writer, size int64) error {
	n, err := io.CopyBuffer(io.Discard, r, make([]byte, 256<<10))
	if err != nil {
		return err
	}
	if n != size {
		return fmt.Errorf("received %d bytes, want %d", n, size)
	}
	_, err = w.Write([]byte{1})
	return err
}

// source writes size bytes to w, half-closes and waits for the ack.
func source(w io.Writer, closeWrite func() error, r io.Reader, size int64) error {
	buf := make([]byte, 256<<10)
	for left := size; left > 0; {
		n := min(left, int64(len(buf)))
		if _, err := w.Write(buf[:n]); err != nil {
			return err
		}
		left -= n
	}
	if err := closeWrite(); err != nil {
		return err
	}
	_, err := io.ReadFull(r, buf[:1])
	return err
}

func streamIn(k *lkl.Kernel, size int64) (time.Duration, error) {
	l, err := listen(k, unix.SOCK_STREAM, 80)
	if err != nil {
		return 0, err
	}
	defer l.close()
	done := make(chan error, 1)
	serveLKL(l, func(c *ksock) {
		defer c.close()
		done <- sink(c, c, size)
	})
	start := time.Now()
	c, err := net.Dial("tcp", k.Forwards()[0].String())
	if err != nil {
		return 0, err
	}
	defer c.Close()
	if err := source(c, c.(*net.TCPConn).CloseWrite, c, size); err != nil {
		return 0, err
	}
	return time.Since(start), <-done
}

func streamOut(k *lkl.Kernel, size int64) (time.Duration, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	done := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		done <- sink(c, c, size)
	}()
	start := time.Now()
	s, err := dial(k, unix.SOCK_STREAM, fmt.Sprintf("10.0.2.2:%d", l.Addr().(*net.TCPAddr).Port))
	if err != nil {
		return 0, err
	}
	defer s.close()
	if err := source(s, s.closeWrite, s, size); err != nil {
		return 0, err
	}
	return time.Since(start), <-done
}
