package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gokernel/gokernel/internal/cli/clitest"
)

// startEchoServer starts "gkbench echo args..." as a child and returns
// its address and pid; the child is stopped with SIGTERM when the test
// ends, and must exit cleanly.
func startEchoServer(t *testing.T, args ...string) (addr string, pid int) {
	t.Helper()
	return clitest.Start(t, asMain, nil, append([]string{"echo"}, args...)...)
}

func TestEchoServers(t *testing.T) {
	for _, api := range []string{"loop", "unet", "net", "gnet"} {
		t.Run(api, func(t *testing.T) {
			t.Parallel()
			addr, _ := startEchoServer(t, "-api", api, "-loops", "2")
			for i := range 3 {
				c, err := net.Dial("tcp", addr)
				require.NoError(t, err)
				msg := bytes.Repeat([]byte{byte('a' + i), 0, 0xff}, 10000*i+1)
				go func() {
					c.Write(msg)
					c.(*net.TCPConn).CloseWrite()
				}()
				got := make([]byte, len(msg))
				_, err = io.ReadFull(c, got)
				require.NoError(t, err)
				require.Equal(t, msg, got)
				c.Close()
			}
		})
	}
}

func TestEchoNetNeedsHost(t *testing.T) {
	for _, api := range []string{"net", "gnet"} {
		_, stderr, code := gkbench(t, []string{"GOKERNEL=lkl"}, "echo", "-api", api)
		require.Equal(t, 1, code, stderr)
		// Without LKL in the binary the kernel cannot start at all.
		require.Regexp(t, `echo -api `+api+` runs on the host kernel only, not on lkl|kernel "lkl" is not in this binary`, stderr)
	}
	_, stderr, code := gkbench(t, nil, "echo", "-api", "nope")
	require.Equal(t, 2, code)
	require.Contains(t, stderr, `-api "nope": want loop, unet, net or gnet`)
}

func TestLoad(t *testing.T) {
	addr, pid := startEchoServer(t, "-api", "net")
	stdout, stderr, code := gkbench(t, nil, "load", "-addr", addr, "-conns", "4", "-size", "1000",
		"-duration", "1s", "-server-pid", strconv.Itoa(pid))
	require.Equal(t, 0, code, stderr)
	res, err := parseLoadResult(strings.TrimSpace(stdout))
	require.NoError(t, err)
	require.Greater(t, res.msgs, 0)
	require.GreaterOrEqual(t, res.cpuMsg, time.Duration(0))

	_, stderr, code = gkbench(t, nil, "load")
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "load needs -addr")
}

// A server that changes a byte fails the load run.
func TestLoadCatchesCorruption(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 100)
		for n := 0; ; n++ {
			k, err := c.Read(buf)
			if err != nil {
				return
			}
			if n == 5 {
				buf[k/2]++
			}
			c.Write(buf[:k])
		}
	}()
	_, err = runLoad(loadConfig{conns: 1, size: 10, duration: time.Second},
		func() (io.ReadWriteCloser, error) { return net.Dial("tcp", ln.Addr().String()) })
	require.ErrorContains(t, err, "echo differs at byte")
}

// benchHarness makes a bench command's children run this test binary as
// gkbench and captures what it prints, until the test ends.
func benchHarness(t *testing.T) (o, e *strings.Builder) {
	oldSelf := selfCommand
	selfCommand = func(ctx context.Context, args ...string) (*exec.Cmd, error) {
		cmd := exec.CommandContext(ctx, os.Args[0], append([]string{"-test.run=^$", "--"}, args...)...)
		cmd.Env = append(os.Environ(), asMain+"=1")
		return cmd, nil
	}
	o, e = new(strings.Builder), new(strings.Builder)
	out.W, out.Err = o, e
	t.Cleanup(func() { selfCommand, out.W, out.Err = oldSelf, nil, nil })
	return o, e
}

// echo-bench end to end, briefly: one round, one small configuration.
func TestEchoBench(t *testing.T) {
	o, e := benchHarness(t)
	require.NoError(t, echoBench(benchOptions{apis: benchAPIs, configs: []benchConfig{{"4 conns × 100 B", 4, 100}}, rounds: 1, dur: 200 * time.Millisecond, syscalls: true, lkl: true}), e.String())
	for _, api := range benchAPIs {
		require.Regexp(t, `(?m)^\s*`+api+`\s+\d+\s`, o.String())
	}
}

// -apis with ring features and environment variables: the paired table
// names each against the first.
func TestEchoBenchVariants(t *testing.T) {
	o, e := benchHarness(t)
	apis := []string{"loop-uring", "loop-uring+regring+nosqarray", "gnet:GOMAXPROCS=1"}
	require.NoError(t, echoBench(benchOptions{apis: apis, configs: []benchConfig{{"4 conns × 100 B", 4, 100}}, rounds: 2, dur: 200 * time.Millisecond}), e.String())
	require.Contains(t, o.String(), "paired with loop-uring")
	for _, api := range apis[1:] {
		require.Regexp(t, `(?m)^\s*`+regexp.QuoteMeta(api)+`\s+\d+\.\d\d\s+\d+\.\d\d\s+\d+\.\d\d \d+\.\d\d\s`, o.String())
	}
	args, env, err := echoArgs("loop-uring+sqpoll+pollfirst:GOMAXPROCS=3:-loops=1")
	require.NoError(t, err)
	require.Equal(t, []string{"echo", "-api", "loop", "-loops=1"}, args)
	require.Equal(t, []string{"GOKERNEL=host", "GOMAXPROCS=3", "GOKERNEL_URING=sqpoll,pollfirst", "GOKERNEL_AIO=uring"}, env)
	for bad, msg := range map[string]string{
		"loop-uring:GOMAXPROCS": `"GOMAXPROCS" is not NAME=VALUE`,
		"gnet+regring":          "ring features are for loop-uring",
		"tokio":                 `"tokio": want one of loop-uring`,
	} {
		_, _, err := echoArgs(bad)
		require.ErrorContains(t, err, msg)
	}
	cs, err := parseConfigs("64x64,8x16384")
	require.NoError(t, err)
	require.Equal(t, []benchConfig{{"64 conns × 64 B", 64, 64}, {"8 conns × 16 KiB", 8, 16384}}, cs)
	_, err = parseConfigs("64by64")
	require.ErrorContains(t, err, `"64by64" is not CONNSxSIZE`)
}
