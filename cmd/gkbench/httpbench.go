package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/gokernel/gokernel/aio"
	"github.com/gokernel/gokernel/internal/cli"
	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/unet"
)

func init() {
	register(&cli.Command{
		Name:     "http-bench",
		Args:     "[-rounds 3] [-duration 3s] [-clients 50]",
		Summary:  "compare net/http over a unet listener with the standard library's net",
		NoKernel: true,
		Help: `http-bench runs "gkbench http DIR" as a child process with -api unet (on epoll,
then on io_uring: GOKERNEL_AIO=epoll, uring) and -api net in turn (one turn
per round), drives each from this process with -clients
keep-alive net/http clients (the standard library's client, the same for
both) that GET a 1 KiB file and check every body, stops it with SIGTERM,
and prints requests per second, p50 and p99 latency and the server's CPU
time per request, each the median over the rounds, with the ratio to net.

In a binary with LKL (-tags lkl) it also runs "gkbench http -self-load" on
LKL: only that process reaches LKL's loopback, so the clients run inside
it, dialing through unet; that row's CPU time is the whole process's. And
it runs "demo serve" (the demo binary of -demo) on an ext4 image of the
same file (made with mke2fs)
and loads it from here like the host servers: every request crosses the
port forward into LKL's TCP/IP stack. Last, the other way: "gkbench
http-load" on LKL with a user network, its clients going out through the
network's NAT to a unet server on the host ("gkbench http -api unet").`,
		Setup: func(fs *flag.FlagSet) func([]string) error {
			rounds := fs.Int("rounds", 3, "rounds")
			dur := fs.Duration("duration", 3*time.Second, "load time of each run")
			clients := fs.Int("clients", 50, "concurrent keep-alive clients")
			demo := fs.String("demo", "", "the demo `binary` whose serve command runs on LKL (default: demo beside gkbench)")
			return func(args []string) error {
				if len(args) != 0 {
					return fmt.Errorf("%w: http-bench takes no arguments", errUsage)
				}
				if *rounds < 1 || *dur <= 0 || *clients < 1 {
					return fmt.Errorf("%w: -rounds, -duration and -clients must be positive", errUsage)
				}
				return httpBench(*rounds, *dur, *clients, *demo)
			}
		},
	})
}

func init() {
	register(&cli.Command{
		Name:    "http-load",
		Args:    "URL -dir DIR [-clients 50] [-duration 3s] [-server-pid PID]",
		Summary: "http-bench's client load against URL, dialing through unet on the selected kernel",
		Help: `http-load runs -clients keep-alive net/http clients that GET URL until
-duration has passed, each dialing through unet on the selected kernel
(GOKERNEL), checks every body against the file of the same name in the
host directory DIR, and prints one result line: requests per second, p50
and p99 latency, and the CPU time per request of process -server-pid when
given. http-bench runs it on LKL with a user network, so that its
requests leave LKL through the network's NAT:

  GOKERNEL=lkl GOKERNEL_CONFIG=user.json gkbench http-load http://10.0.2.2:8080/body.bin -dir DIR

where user.json is {"interfaces":[{"type":"user"}]} and 10.0.2.2 is the
host's 127.0.0.1 as LKL sees it.`,
		Setup: func(fs *flag.FlagSet) func([]string) error {
			dir := fs.String("dir", "", "host `directory` holding the requested file, to check bodies against")
			clients := fs.Int("clients", 50, "concurrent keep-alive clients")
			dur := fs.Duration("duration", 3*time.Second, "how long to run")
			pid := fs.Int("server-pid", 0, "measure this process's CPU time (0: none)")
			return func(args []string) error {
				args, err := cli.ParseAfterFirst(fs, args)
				if err != nil {
					return err
				}
				if len(args) != 1 || *dir == "" {
					return fmt.Errorf("%w: http-load takes one URL and -dir", errUsage)
				}
				if *clients < 1 || *dur <= 0 || *pid < 0 {
					return fmt.Errorf("%w: -clients and -duration must be positive", errUsage)
				}
				res, err := httpLoad(*clients, *dur, *pid, args[0], *dir, unet.DialContext)
				if err != nil {
					return err
				}
				fmt.Fprintf(out.W, "%s (%s kernel)\n", res, sys.Default().Name())
				return nil
			}
		},
	})
}

// httpBenchFile is the file http-bench requests.
const httpBenchFile = "body.bin"

// httpBenchBody is its content: 1 KiB of a pattern.
func httpBenchBody() []byte {
	b := make([]byte, 1024)
	for i := range b {
		b[i] = byte('a' + i%26)
	}
	return b
}

// demoBeside is the demo binary in gkbench's own directory, where make
// bench builds it.
func demoBeside() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	demo := filepath.Join(filepath.Dir(exe), "demo")
	if _, err := os.Stat(demo); err != nil {
		return "", fmt.Errorf("http-bench runs demo serve on LKL: %w (make bench builds demo beside gkbench; or give -demo PATH)", err)
	}
	return demo, nil
}

// httpBench runs the comparison and prints its table; demo is the demo
// binary whose serve command it measures ("": the one beside gkbench).
func httpBench(rounds int, dur time.Duration, clients int, demo string) error {
	dir, err := os.MkdirTemp("", "http-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, httpBenchFile), httpBenchBody(), 0o644); err != nil {
		return err
	}
	withLKL := slices.Contains(sys.Kernels(), "lkl")
	var img string
	if withLKL {
		if demo == "" {
			if demo, err = demoBeside(); err != nil {
				return err
			}
		}
		if img, err = makeExt4(dir); err != nil {
			return err
		}
		defer os.Remove(img)
	}
	runs := []benchRun{
		{key: "unet-epoll", name: "unet on epoll", run: func() (loadResult, error) { return httpBenchHost(dir, "unet", "epoll", clients, dur) }},
		{key: "unet-uring", name: "unet on io_uring", run: func() (loadResult, error) { return httpBenchHost(dir, "unet", "uring", clients, dur) }},
		{key: "net", name: "net", run: func() (loadResult, error) { return httpBenchHost(dir, "net", "", clients, dur) }},
	}
	if withLKL {
		runs = append(runs,
			benchRun{key: "lkl", name: "unet on lkl", run: func() (loadResult, error) { return httpBenchLKL(dir, clients, dur) }},
			benchRun{key: "serve", name: "serve (lkl via forward)", run: func() (loadResult, error) { return httpBenchServe(demo, img, dir, clients, dur) }},
			benchRun{key: "nat", name: "lkl clients via NAT", run: func() (loadResult, error) { return httpBenchNAT(dir, clients, dur) }})
	}
	results, err := runRounds(rounds, "", runs)
	if err != nil {
		return err
	}
	fmt.Fprintf(out.W, "\nnet/http, %d keep-alive clients, GET of 1 KiB: median of %d rounds of %s; cpu/req is the server process's user+system time\n", clients, rounds, dur)
	tw := tabwriter.NewWriter(out.W, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "server\treq/s\tp50\tp99\tcpu/req\treq/s vs net\tcpu/req vs net\t")
	netRow := summarize(results["net"])
	for _, b := range runs {
		row := summarize(results[b.key])
		label, cpu := b.key, fmtDur(row.cpu)
		switch b.key {
		case "lkl":
			label, cpu = "unet on lkl*", cpu+"*"
		case "serve":
			label = "serve: lkl via forward**"
		case "nat":
			label = "lkl clients via NAT***"
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%s\t%s\t%s\t\n", label, row.mps, fmtDur(row.p50), fmtDur(row.p99), cpu,
			ratio(row.mps, netRow.mps), ratio(float64(row.cpu), float64(netRow.cpu)))
	}
	tw.Flush()
	if withLKL {
		fmt.Fprintln(out.W, "* on LKL the clients run inside the server's process (LKL's loopback), dialing through unet; cpu/req is the whole process, clients included")
		fmt.Fprintln(out.W, "** demo serve: the same clients on the host, through the port forward (usernet's netstack) into LKL's TCP/IP stack; the file is read through ufs from an ext4 image; cpu/req is the serve process (LKL, netstack, server)")
		fmt.Fprintln(out.W, "*** the other way: the clients in an LKL process (gkbench http-load) with a user network, through its NAT to the unet server on the host's 127.0.0.1; cpu/req is that host server's")
	}
	return nil
}

// httpBenchHost runs "gkbench http DIR -api api" as a child on the host
// kernel, with GOKERNEL_AIO=backend if not "", and loads it from here
// with the standard library's client.
func httpBenchHost(dir, api, backend string, clients int, dur time.Duration) (loadResult, error) {
	env := []string{"GOKERNEL=host"}
	if backend != "" {
		env = append(env, aio.EnvBackend+"="+backend)
	}
	return httpBenchChild(dir, clients, dur, func(ctx context.Context) (*exec.Cmd, error) {
		return selfCommand(ctx, "http", dir, "-api", api, "-listen", "127.0.0.1:0")
	}, env)
}

// httpBenchServe runs "demo serve IMG" (demo is the binary), IMG an ext4
// image of dir, as a child and loads it from here: every request crosses
// the port forward into LKL's TCP/IP stack, and the file comes from ufs
// on LKL's ext4.
func httpBenchServe(demo, img, dir string, clients int, dur time.Duration) (loadResult, error) {
	return httpBenchChild(dir, clients, dur, func(ctx context.Context) (*exec.Cmd, error) {
		return exec.CommandContext(ctx, demo, "serve", img, "-listen", "127.0.0.1:0"), nil
	}, nil)
}

// httpBenchChild runs the server command makes as a child, with env
// added to its environment, and loads it from here; dir holds the file
// it serves.
func httpBenchChild(dir string, clients int, dur time.Duration, command func(context.Context) (*exec.Cmd, error), env []string) (loadResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), dur+30*time.Second)
	defer cancel()
	cmd, err := command(ctx)
	if err != nil {
		return loadResult{}, err
	}
	return loadServer(cmd, env, func(addr string, pid int) (loadResult, error) {
		var d net.Dialer
		return httpLoad(clients, dur, pid, "http://"+addr+"/"+httpBenchFile, dir, d.DialContext)
	})
}

// httpBenchNAT runs "gkbench http DIR -api unet" on the host and loads it
// from "gkbench http-load" on LKL with a user network: every request leaves
// LKL's TCP/IP stack through the network's NAT (10.0.2.2 is the host's
// 127.0.0.1). The CPU time per request is the host server's.
func httpBenchNAT(dir string, clients int, dur time.Duration) (loadResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), dur+30*time.Second)
	defer cancel()
	srv, addr, rest, stderr, err := startSelf(ctx, []string{"GOKERNEL=host"}, "http", dir, "-api", "unet", "-listen", "127.0.0.1:0")
	if err != nil {
		return loadResult{}, err
	}
	defer func() {
		srv.Process.Signal(syscall.SIGTERM)
		io.Copy(io.Discard, rest)
		srv.Wait()
	}()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return loadResult{}, err
	}
	conf := dir + ".user.json"
	if err := os.WriteFile(conf, []byte(`{"interfaces":[{"type":"user"}]}`), 0o644); err != nil {
		return loadResult{}, err
	}
	defer os.Remove(conf)
	load, err := selfCommand(ctx, "http-load", "http://10.0.2.2:"+port+"/"+httpBenchFile, "-dir", dir,
		"-clients", fmt.Sprint(clients), "-duration", dur.String(), "-server-pid", fmt.Sprint(srv.Process.Pid))
	if err != nil {
		return loadResult{}, err
	}
	load.Env = append(load.Environ(), "GOKERNEL=lkl", "GOKERNEL_CONFIG="+conf, "GOKERNEL_TRACE=", "GOKERNEL_TRACE_FILE=")
	var lerr strings.Builder
	load.Stderr = &lerr
	b, err := load.Output()
	if err != nil {
		return loadResult{}, fmt.Errorf("http-load on lkl: %w: %s (server: %s)", err, strings.TrimSpace(lerr.String()), strings.TrimSpace(stderr.String()))
	}
	return parseLoadResult(string(b))
}

// makeExt4 makes an ext4 image of dir with mke2fs -d, as the tour does;
// it returns the image's path.
func makeExt4(dir string) (string, error) {
	mke2fs, err := exec.LookPath("mke2fs")
	if err != nil {
		if mke2fs, err = exec.LookPath("/usr/sbin/mke2fs"); err != nil {
			return "", fmt.Errorf("an ext4 image for demo serve needs mke2fs (Debian's e2fsprogs): %w", err)
		}
	}
	img := dir + ".img"
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		return "", err
	}
	if err := os.Truncate(img, 32<<20); err != nil {
		return "", err
	}
	if b, err := exec.Command(mke2fs, "-q", "-F", "-t", "ext4", "-d", dir, img).CombinedOutput(); err != nil {
		return "", fmt.Errorf("mke2fs: %w: %s", err, strings.TrimSpace(string(b)))
	}
	return img, nil
}

// httpBenchLKL runs "gkbench http DIR -self-load" on LKL.
func httpBenchLKL(dir string, clients int, dur time.Duration) (loadResult, error) {
	return selfLoadLKL(dur, "http", dir, "-listen", "127.0.0.1:0",
		"-self-load", "-clients", fmt.Sprint(clients), "-duration", dur.String())
}

// httpLoad runs clients keep-alive clients that GET url until dur has
// passed, each body checked against the file in dir; a request is a
// "msg" of loadResult. serverPID, if not 0, is measured for CPU time.
func httpLoad(clients int, dur time.Duration, serverPID int, url, dir string, dial func(ctx context.Context, network, addr string) (net.Conn, error)) (loadResult, error) {
	res := loadResult{cpuMsg: -1}
	want, err := os.ReadFile(filepath.Join(dir, httpBenchFile))
	if err != nil {
		return res, err
	}
	var cpu0 time.Duration
	if serverPID != 0 {
		if cpu0, err = procCPU(serverPID); err != nil {
			return res, err
		}
	}
	start := time.Now()
	deadline := start.Add(dur)
	rtts := make([][]time.Duration, clients)
	errs := make([]error, clients)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			tr := &http.Transport{DialContext: dial, MaxIdleConnsPerHost: 1}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			buf := make([]byte, len(want)+1)
			for time.Now().Before(deadline) {
				t0 := time.Now()
				resp, err := client.Get(url)
				if err != nil {
					errs[i] = err
					return
				}
				n, _ := io.ReadFull(resp.Body, buf)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || !bytes.Equal(buf[:n], want) {
					errs[i] = fmt.Errorf("GET %s: %s, %d bytes differ from the file", url, resp.Status, n)
					return
				}
				rtts[i] = append(rtts[i], time.Since(t0))
			}
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	if serverPID != 0 {
		cpu1, err := procCPU(serverPID)
		if err != nil {
			return res, err
		}
		cpu0 = cpu1 - cpu0
	}
	if err := errors.Join(errs...); err != nil {
		return res, err
	}
	err = res.fill(rtts, cpu0, serverPID != 0, "no request was answered")
	return res, err
}
