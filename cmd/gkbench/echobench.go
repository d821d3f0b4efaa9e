package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/gokernel/gokernel/eloop"
	"github.com/gokernel/gokernel/internal/cli"
	"github.com/gokernel/gokernel/sys"
)

func init() {
	register(&cli.Command{
		Name:     "echo-bench",
		Args:     "[-rounds 3] [-duration 3s] [-apis a,b,...] [-configs 64x64,8x16384] [-syscalls=false]",
		Summary:  "compare the echo servers of eloop, unet, gnet and net side by side",
		NoKernel: true,
		Help: `echo-bench runs "gkbench echo" as a child process with -api loop (on io_uring
and on epoll: GOKERNEL_AIO=uring, =epoll), unet, gnet and net in turn,
one turn each per round; drives each with the load generator of "gkbench
load" in this process, stops it with SIGTERM, and prints a table per
configuration (64 connections × 64 bytes, 8 connections × 16 KiB):
messages per second, p50 and p99 round-trip latency, and the server's CPU
time per message, each the median over the rounds, with ratios against
gnet and net. After the rounds it runs each host server once more under
"perf stat" to count its system calls per message (a "-" where perf is
missing or may not read the syscall tracepoints).

In a binary with LKL (-tags lkl) it also runs the eloop and unet servers
on LKL (GOKERNEL=lkl). Only that process can reach LKL's loopback, so the
load generator runs inside it (echo -api loop|unet -self-load), dialing
with unet over LKL's sockets; those rows' CPU time is the whole process's,
client included.

-apis picks the host servers and their order (default: loop-uring,
loop-uring:-loops=1,loop-epoll,unet,gnet,gnet:-loops=1,net). An API may carry ring features for eloop on
io_uring after "+" (loop-uring+regring+nosqarray sets GOKERNEL_URING,
see eloop.EnvUring), and environment variables or echo's flags after ":"
(gnet:GOMAXPROCS=3, loop-uring:-loops=1); the table then also gives, for each, the median
over the rounds of its ratio to the first API in the same round. -configs
picks the workloads as CONNSxSIZE. -syscalls=false skips the perf runs.
The LKL rows are run only with the default -apis.`,
		Setup: func(fs *flag.FlagSet) func([]string) error {
			rounds := fs.Int("rounds", 3, "rounds per configuration")
			dur := fs.Duration("duration", 3*time.Second, "load time of each run")
			apis := fs.String("apis", strings.Join(benchAPIs, ","), "the host servers, comma-separated (see above)")
			configs := fs.String("configs", "", "the workloads, comma-separated `CONNSxSIZE` (default: 64x64,8x16384)")
			syscalls := fs.Bool("syscalls", true, "count system calls per message with perf stat")
			return func(args []string) error {
				if len(args) != 0 {
					return fmt.Errorf("%w: echo-bench takes no arguments", errUsage)
				}
				if *rounds < 1 || *dur <= 0 {
					return fmt.Errorf("%w: -rounds and -duration must be positive", errUsage)
				}
				o := benchOptions{apis: strings.Split(*apis, ","), rounds: *rounds, dur: *dur, syscalls: *syscalls, configs: benchConfigs}
				o.lkl = *apis == strings.Join(benchAPIs, ",")
				for _, api := range o.apis {
					if _, _, err := echoArgs(api); err != nil {
						return err
					}
				}
				if *configs != "" {
					var err error
					if o.configs, err = parseConfigs(*configs); err != nil {
						return err
					}
				}
				return echoBench(o)
			}
		},
	})
}

// benchConfig is one workload of echo-bench.
type benchConfig struct {
	name        string
	conns, size int
}

var benchConfigs = []benchConfig{
	{"64 conns × 64 B", 64, 64},
	{"8 conns × 16 KiB", 8, 16 << 10},
}

// parseConfigs parses -configs: CONNSxSIZE, comma-separated.
func parseConfigs(s string) ([]benchConfig, error) {
	var cs []benchConfig
	for _, f := range strings.Split(s, ",") {
		a, b, ok := strings.Cut(f, "x")
		conns, err1 := strconv.Atoi(a)
		size, err2 := strconv.Atoi(b)
		if !ok || err1 != nil || err2 != nil || conns < 1 || size < 1 {
			return nil, fmt.Errorf("%w: -configs: %q is not CONNSxSIZE", errUsage, f)
		}
		name := fmt.Sprintf("%d conns × %d B", conns, size)
		if size%1024 == 0 {
			name = fmt.Sprintf("%d conns × %d KiB", conns, size/1024)
		}
		cs = append(cs, benchConfig{name, conns, size})
	}
	return cs, nil
}

// benchOptions is what one echo-bench run compares.
type benchOptions struct {
	apis     []string
	configs  []benchConfig
	rounds   int
	dur      time.Duration
	syscalls bool // count system calls with perf stat
	lkl      bool // also the LKL rows, if the binary has LKL
}

// benchAPIs are the host servers echo-bench compares, in the order it
// runs them each round: eloop's on io_uring and on epoll (-api loop with
// GOKERNEL_AIO set), unet's, gnet's and net's.
var benchAPIs = []string{"loop-uring", "loop-uring:-loops=1", "loop-epoll", "unet", "gnet", "gnet:-loops=1", "net"}

// benchNames are the servers an -apis entry may name: the benchAPIs
// without flags. One loop is measured beside the default one per CPU
// because on a 2-core machine that also runs the load generator it is
// the better setting for eloop on io_uring (docs/aio.md).
var benchNames = []string{"loop-uring", "loop-epoll", "unet", "gnet", "net"}

// echoArgs returns the echo command's arguments and environment for an
// -apis entry: a benchAPIs name, then ring features after "+" (eloop on
// io_uring only) and environment variables after ":".
func echoArgs(api string) (args, env []string, err error) {
	env = []string{"GOKERNEL=host"}
	parts := strings.Split(api, ":")
	var flags []string
	for _, kv := range parts[1:] {
		if strings.HasPrefix(kv, "-") {
			flags = append(flags, kv) // a flag of echo: -loops=1
			continue
		}
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return nil, nil, fmt.Errorf("%w: -apis: %q: %q is not NAME=VALUE", errUsage, api, kv)
		}
		env = append(env, kv)
	}
	name, features, _ := strings.Cut(parts[0], "+")
	if !slices.Contains(benchNames, name) {
		return nil, nil, fmt.Errorf("%w: -apis: %q: want one of %s", errUsage, name, strings.Join(benchNames, ", "))
	}
	if features != "" {
		if name != "loop-uring" {
			return nil, nil, fmt.Errorf("%w: -apis: %q: ring features are for loop-uring", errUsage, api)
		}
		env = append(env, eloop.EnvUring+"="+strings.ReplaceAll(features, "+", ","))
	}
	if backend, ok := strings.CutPrefix(name, "loop-"); ok {
		return append([]string{"echo", "-api", "loop"}, flags...), append(env, "GOKERNEL_AIO="+backend), nil
	}
	return append([]string{"echo", "-api", name}, flags...), env, nil
}

// lklAPIs are the servers echo-bench also runs on LKL, with the load
// generator in their process, and their rows' keys and labels.
var lklAPIs = []struct{ api, key, label string }{
	{"loop", "lkl", "loop on lkl*"},
	{"unet", "unet-lkl", "unet on lkl*"},
}

// selfCommand makes the command that runs this program with args; tests
// replace it to run the test binary as gkbench.
var selfCommand = func(ctx context.Context, args ...string) (*exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return exec.CommandContext(ctx, exe, args...), nil
}

func echoBench(o benchOptions) error {
	withLKL := o.lkl && slices.Contains(sys.Kernels(), "lkl")
	rounds, dur := o.rounds, o.dur
	for _, cfg := range o.configs {
		var runs []benchRun
		for _, api := range o.apis {
			runs = append(runs, benchRun{key: api, name: api, run: func() (loadResult, error) { return benchHost(api, cfg, dur) }})
		}
		for _, l := range lklAPIs {
			if withLKL {
				runs = append(runs, benchRun{key: l.key, name: l.api + " on lkl", run: func() (loadResult, error) { return benchLKL(l.api, cfg, dur) }})
			}
		}
		results, err := runRounds(rounds, cfg.name+", ", runs)
		if err != nil {
			return err
		}
		sys := map[string]syscallCount{}
		for _, api := range o.apis {
			if !o.syscalls {
				break
			}
			c, err := countSyscalls(api, cfg, min(dur, 2*time.Second))
			if err != nil {
				fmt.Fprintf(out.Err, "%s, %s: no system call count: %v\n", cfg.name, api, err)
				continue
			}
			fmt.Fprintf(out.Err, "%s, %s: %s\n", cfg.name, api, c)
			sys[api] = c
		}
		printBenchTable(cfg, o.apis, rounds, dur, results, sys, withLKL)
	}
	return nil
}

// A benchRun is one server of a benchmark: run measures it once, and
// runRounds files the result under key.
type benchRun struct {
	key, name string // name is for progress lines and errors
	run       func() (loadResult, error)
}

// runRounds runs every run once per round, in turn, so that each sees the
// same moments of a shared machine; it prints a progress line per run,
// prefixed with prefix, and returns the results by key.
func runRounds(rounds int, prefix string, runs []benchRun) (map[string][]loadResult, error) {
	results := map[string][]loadResult{}
	for r := range rounds {
		for _, b := range runs {
			res, err := b.run()
			if err != nil {
				return nil, fmt.Errorf("%sround %d, %s: %w", prefix, r+1, b.name, err)
			}
			fmt.Fprintf(out.Err, "%sround %d/%d, %s: %s\n", prefix, r+1, rounds, b.name, res)
			results[b.key] = append(results[b.key], res)
		}
	}
	return results, nil
}

// startSelf starts "gkbench args..." (a server) with environment env, as
// startServer does.
func startSelf(ctx context.Context, env []string, args ...string) (cmd *exec.Cmd, addr string, rest *bufio.Reader, stderr *strings.Builder, err error) {
	if cmd, err = selfCommand(ctx, args...); err != nil {
		return nil, "", nil, nil, err
	}
	return startServer(cmd, env)
}

// startServer starts cmd, a server that prints "listening on ADDR"
// first, with env added to its environment, and returns it with that
// address and the rest of its output.
func startServer(cmd *exec.Cmd, env []string) (_ *exec.Cmd, addr string, rest *bufio.Reader, stderr *strings.Builder, err error) {
	cmd.Env = append(cmd.Environ(), append([]string{"GOKERNEL_TRACE=", "GOKERNEL_TRACE_FILE="}, env...)...)
	stderr = new(strings.Builder)
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", nil, nil, err
	}
	rest = bufio.NewReader(stdout)
	line, err := rest.ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	if err != nil || !ok {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, "", nil, nil, fmt.Errorf("server did not start (first line %q): %v: %s", line, err, strings.TrimSpace(stderr.String()))
	}
	return cmd, addr, rest, stderr, nil
}

// loadServer starts cmd, a server, with env added to its environment,
// runs load against the address it listens on (pid is the server's),
// then stops it with SIGTERM; the server must exit cleanly.
func loadServer(cmd *exec.Cmd, env []string, load func(addr string, pid int) (loadResult, error)) (loadResult, error) {
	cmd, addr, rest, stderr, err := startServer(cmd, env)
	if err != nil {
		return loadResult{}, err
	}
	res, lerr := load(addr, cmd.Process.Pid)
	cmd.Process.Signal(syscall.SIGTERM)
	io.Copy(io.Discard, rest)
	if err := cmd.Wait(); err != nil {
		lerr = errors.Join(lerr, fmt.Errorf("server: %w: %s", err, strings.TrimSpace(stderr.String())))
	}
	return res, lerr
}

// benchHost runs one host server as a child and measures it from here.
func benchHost(api string, cfg benchConfig, dur time.Duration) (loadResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), dur+30*time.Second)
	defer cancel()
	args, env, err := echoArgs(api)
	if err != nil {
		return loadResult{}, err
	}
	cmd, err := selfCommand(ctx, args...)
	if err != nil {
		return loadResult{}, err
	}
	return loadServer(cmd, env, func(addr string, pid int) (loadResult, error) {
		return runLoad(loadConfig{conns: cfg.conns, size: cfg.size, duration: dur, serverPID: pid},
			func() (io.ReadWriteCloser, error) { return net.Dial("tcp", addr) })
	})
}

// benchLKL runs server api (loop or unet) on LKL with the load generator
// inside it.
func benchLKL(api string, cfg benchConfig, dur time.Duration) (loadResult, error) {
	return selfLoadLKL(dur, "echo", "-api", api, "-self-load",
		"-conns", fmt.Sprint(cfg.conns), "-size", fmt.Sprint(cfg.size), "-duration", dur.String())
}

// selfLoadLKL runs "gkbench args..." on LKL, a server run with
// -self-load for dur, which prints its load result after "listening on"
// and stops; it returns that result.
func selfLoadLKL(dur time.Duration, args ...string) (loadResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), dur+30*time.Second)
	defer cancel()
	cmd, _, rest, stderr, err := startSelf(ctx, []string{"GOKERNEL=lkl"}, args...)
	if err != nil {
		return loadResult{}, err
	}
	b, _ := io.ReadAll(rest)
	if err := cmd.Wait(); err != nil {
		return loadResult{}, fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return parseLoadResult(string(b))
}

func median[T int | time.Duration | float64](xs []T) T {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// benchRow is one line of a table: medians over the rounds.
type benchRow struct {
	mps      float64
	p50, p99 time.Duration
	cpu      time.Duration // -1: not measured
}

func summarize(rs []loadResult) benchRow {
	var msgs []int
	var p50, p99, cpu []time.Duration
	for _, r := range rs {
		msgs = append(msgs, int(r.perSecond()))
		p50 = append(p50, r.p50)
		p99 = append(p99, r.p99)
		cpu = append(cpu, r.cpuMsg)
	}
	return benchRow{mps: float64(median(msgs)), p50: median(p50), p99: median(p99), cpu: median(cpu)}
}

func ratio(a, b float64) string {
	if a <= 0 || b <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", a/b)
}

// A syscallCount is what countSyscalls measured of one server.
type syscallCount struct {
	msgs          int
	total, enters int64 // system calls, and io_uring_enter among them
}

// String says the counts per message.
func (c syscallCount) String() string {
	return fmt.Sprintf("%.2f syscalls/msg (%.2f io_uring_enter) over %d msgs", c.perMsg(c.total), c.perMsg(c.enters), c.msgs)
}

func (c syscallCount) perMsg(n int64) float64 { return float64(n) / float64(max(c.msgs, 1)) }

// perfEvents are the tracepoints countSyscalls counts.
var perfEvents = []string{"raw_syscalls:sys_enter", "syscalls:sys_enter_io_uring_enter"}

// countSyscalls runs server api under "perf stat" (every system call of
// the process, its threads included, from its start to its exit), loads
// it for dur, and counts the system calls per message. The count
// includes the server's start, its accepts and its exit, a few hundred
// calls against the hundreds of thousands of a run. perf must be
// installed and allowed to read the syscall tracepoints (root, or
// perf_event_paranoid <= -1).
func countSyscalls(api string, cfg benchConfig, dur time.Duration) (syscallCount, error) {
	ctx, cancel := context.WithTimeout(context.Background(), dur+30*time.Second)
	defer cancel()
	perf, err := exec.LookPath("perf")
	if err != nil {
		return syscallCount{}, err
	}
	args, env, err := echoArgs(api)
	if err != nil {
		return syscallCount{}, err
	}
	self, err := selfCommand(ctx, args...)
	if err != nil {
		return syscallCount{}, err
	}
	outFile, err := os.CreateTemp("", "gkbench-perf-*.csv")
	if err != nil {
		return syscallCount{}, err
	}
	outFile.Close()
	defer os.Remove(outFile.Name())
	pargs := []string{"stat", "-x", ",", "-o", outFile.Name()}
	for _, e := range perfEvents {
		pargs = append(pargs, "-e", e)
	}
	cmd := exec.CommandContext(ctx, perf, append(append(pargs, "--", self.Path), self.Args[1:]...)...)
	cmd.Env = self.Env
	cmd, addr, rest, stderr, err := startServer(cmd, env)
	if err != nil {
		return syscallCount{}, err
	}
	// The server is perf's child; load and stop it, not perf, which
	// writes its counts when the server has exited.
	pid, perr := onlyChild(cmd.Process.Pid)
	var res loadResult
	if perr == nil {
		res, perr = runLoad(loadConfig{conns: cfg.conns, size: cfg.size, duration: dur},
			func() (io.ReadWriteCloser, error) { return net.Dial("tcp", addr) })
		syscall.Kill(pid, syscall.SIGTERM)
	} else {
		cmd.Process.Kill()
	}
	io.Copy(io.Discard, rest)
	if err := cmd.Wait(); err != nil {
		perr = errors.Join(perr, fmt.Errorf("perf or server: %w: %s", err, strings.TrimSpace(stderr.String())))
	}
	if perr != nil {
		return syscallCount{}, perr
	}
	b, err := os.ReadFile(outFile.Name())
	if err != nil {
		return syscallCount{}, err
	}
	c := syscallCount{msgs: res.msgs}
	seen := 0
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Split(line, ",")
		if len(f) < 3 {
			continue
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return c, fmt.Errorf("perf stat: %q: %w", line, err)
		}
		switch f[2] {
		case perfEvents[0]:
			c.total, seen = n, seen+1
		case perfEvents[1]:
			c.enters, seen = n, seen+1
		}
	}
	if seen != len(perfEvents) {
		return c, fmt.Errorf("perf stat printed no counts: %s", strings.TrimSpace(string(b)))
	}
	return c, nil
}

// onlyChild returns the pid of process pid's one child.
func onlyChild(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) != 1 {
		return 0, fmt.Errorf("process %d has children %q, not one", pid, f)
	}
	return strconv.Atoi(f[0])
}

func printBenchTable(cfg benchConfig, apis []string, rounds int, dur time.Duration, results map[string][]loadResult, sys map[string]syscallCount, withLKL bool) {
	fmt.Fprintf(out.W, "\n%s: median of %d rounds of %s; cpu/msg is the server process's user+system time (/proc/PID/stat, CLK_TCK=%d)\n",
		cfg.name, rounds, dur, clockTicks())
	rows := map[string]benchRow{}
	for api, rs := range results {
		rows[api] = summarize(rs)
	}
	gnetRow, netRow := rows["gnet"], rows["net"]
	tw := tabwriter.NewWriter(out.W, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(out.W, "syscalls/msg: one run of min(duration, 2s) under perf stat, after the rounds (whole server process, start to exit)")
	fmt.Fprintln(tw, "api\tmsgs/s\tp50\tp99\tcpu/msg\tmsgs/s vs gnet\tvs net\tcpu/msg vs gnet\tvs net\tsyscalls/msg\t")
	names := apis
	labels := map[string]string{}
	for _, l := range lklAPIs {
		if withLKL {
			names = append(slices.Clone(names), l.key)
			labels[l.key] = l.label
		}
	}
	for _, api := range names {
		r := rows[api]
		label, cpu := api, fmtDur(r.cpu)
		if l, ok := labels[api]; ok {
			label, cpu = l, fmtDur(r.cpu)+"*"
		}
		calls := "-"
		if c, ok := sys[api]; ok {
			calls = fmt.Sprintf("%.2f", c.perMsg(c.total))
			if c.enters > 0 {
				calls += fmt.Sprintf(" (%.2f enter)", c.perMsg(c.enters))
			}
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", label, r.mps, fmtDur(r.p50), fmtDur(r.p99), cpu,
			ratio(r.mps, gnetRow.mps), ratio(r.mps, netRow.mps),
			ratio(float64(r.cpu), float64(gnetRow.cpu)), ratio(float64(r.cpu), float64(netRow.cpu)), calls)
	}
	tw.Flush()
	if !slices.Equal(apis, benchAPIs) && len(apis) > 1 {
		printPaired(apis, results)
	}
	if withLKL {
		fmt.Fprintln(out.W, "* on LKL the client runs inside the server's process (LKL's loopback); its cpu/msg is the whole process, client included")
	} else {
		fmt.Fprintln(out.W, "(no LKL row: this binary has no LKL; build with -tags lkl)")
	}
}

// printPaired prints, for each API after the first, the median over the
// rounds of its msgs/s and cpu/msg divided by the first API's in the
// same round: runs of one round saw the same moments of the machine.
func printPaired(apis []string, results map[string][]loadResult) {
	base := results[apis[0]]
	fmt.Fprintf(out.W, "paired with %s (median over the rounds of the ratio within a round):\n", apis[0])
	tw := tabwriter.NewWriter(out.W, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "api\tmsgs/s ratio\tcpu/msg ratio\tcpu/msg ratios by round\t")
	for _, api := range apis[1:] {
		var mps, cpu []float64
		var each []string
		for i, r := range results[api] {
			if i >= len(base) {
				break
			}
			mps = append(mps, r.perSecond()/base[i].perSecond())
			c := float64(r.cpuMsg) / float64(base[i].cpuMsg)
			cpu = append(cpu, c)
			each = append(each, fmt.Sprintf("%.2f", c))
		}
		fmt.Fprintf(tw, "%s\t%.2f\t%.2f\t%s\t\n", api, median(mps), median(cpu), strings.Join(each, " "))
	}
	tw.Flush()
}
