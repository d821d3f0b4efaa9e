package main

import (
	"bytes"
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
	"sync"
	"time"

	"github.com/gokernel/gokernel/internal/cli"
	"github.com/gokernel/gokernel/sys"
)

func init() {
	register(&cli.Command{
		Name:     "load",
		Args:     "-addr host:port [-conns 64] [-size 64] [-duration 3s] [-server-pid PID]",
		Summary:  "drive an echo server on the host with many connections and measure it",
		NoKernel: true,
		Help: `load opens -conns connections to an echo server with the standard library's
net package (it measures servers on the host), and on each, until -duration
has passed, writes a message of -size bytes, reads the whole echo back,
checks every byte (a mismatch is a fatal error) and records the round trip.

It prints one line of key=value fields:

	msgs/s=123456 p50=210µs p99=1.2ms cpu/msg=8.1µs

cpu/msg is the server's CPU time (user+system, from /proc/PID/stat) per
message over the run; it needs -server-pid and is "n/a" without it.`,
		Setup: func(fs *flag.FlagSet) func([]string) error {
			var cfg loadConfig
			addr := fs.String("addr", "", "the echo server's `host:port`")
			fs.IntVar(&cfg.conns, "conns", 64, "number of `connections`")
			fs.IntVar(&cfg.size, "size", 64, "message size in `bytes`")
			fs.DurationVar(&cfg.duration, "duration", 3*time.Second, "how long to run")
			fs.IntVar(&cfg.serverPID, "server-pid", 0, "measure the CPU time of process `pid`")
			return func(args []string) error {
				if len(args) != 0 {
					return fmt.Errorf("%w: load takes no arguments", errUsage)
				}
				if *addr == "" {
					return fmt.Errorf("%w: load needs -addr", errUsage)
				}
				if err := cfg.check(); err != nil {
					return err
				}
				res, err := runLoad(cfg, func() (io.ReadWriteCloser, error) { return net.Dial("tcp", *addr) })
				if err != nil {
					return err
				}
				fmt.Fprintln(out.W, res)
				return nil
			}
		},
	})
}

// loadConfig is what one run of the load generator does.
type loadConfig struct {
	conns     int
	size      int
	duration  time.Duration
	serverPID int // 0: do not measure CPU time
	// kernelPID, if not 0, is measured with serverPID: the process of the
	// server's kernel when it runs in one of its own (isolated LKL).
	kernelPID int
}

// selfAndKernel sets c to measure this process and, if the selected
// kernel runs in a process of its own (sys/isolated's Kernel, whose Pid
// is its child's), that one too: the self-load rows' CPU time is then
// the whole server's, wherever its kernel runs.
func (c *loadConfig) selfAndKernel() {
	c.serverPID = os.Getpid()
	if k, ok := sys.Default().(interface{ Pid() int }); ok && k.Pid() != os.Getpid() {
		c.kernelPID = k.Pid()
	}
}

// cpuOf is the CPU time of the server's process and its kernel's.
func (c loadConfig) cpuOf() (time.Duration, error) {
	cpu, err := procCPU(c.serverPID)
	if err == nil && c.kernelPID != 0 {
		var k time.Duration
		k, err = procCPU(c.kernelPID)
		cpu += k
	}
	return cpu, err
}

func (c loadConfig) check() error {
	switch {
	case c.conns < 1:
		return fmt.Errorf("%w: -conns must be at least 1", errUsage)
	case c.size < 1:
		return fmt.Errorf("%w: -size must be at least 1", errUsage)
	case c.duration <= 0:
		return fmt.Errorf("%w: -duration must be positive", errUsage)
	}
	return nil
}

// loadResult is what a run measured.
type loadResult struct {
	msgs     int
	elapsed  time.Duration
	p50, p99 time.Duration
	cpuMsg   time.Duration // server CPU time per message; -1 if not measured
}

func (r loadResult) perSecond() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.msgs) / r.elapsed.Seconds()
}

// String formats r as the one line load prints.
func (r loadResult) String() string {
	cpu := "n/a"
	if r.cpuMsg >= 0 {
		cpu = fmtDur(r.cpuMsg)
	}
	return fmt.Sprintf("msgs/s=%.0f p50=%s p99=%s cpu/msg=%s", r.perSecond(), fmtDur(r.p50), fmtDur(r.p99), cpu)
}

// parseLoadResult reads back a line that loadResult.String made; elapsed
// is set to one second so that perSecond gives msgs/s back.
func parseLoadResult(line string) (loadResult, error) {
	r := loadResult{elapsed: time.Second, cpuMsg: -1}
	seen := 0
	for _, f := range strings.Fields(line) {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			continue
		}
		var err error
		switch k {
		case "msgs/s":
			var x float64
			x, err = strconv.ParseFloat(v, 64)
			r.msgs = int(x)
		case "p50":
			r.p50, err = time.ParseDuration(v)
		case "p99":
			r.p99, err = time.ParseDuration(v)
		case "cpu/msg":
			if v != "n/a" {
				r.cpuMsg, err = time.ParseDuration(v)
			}
		default:
			continue
		}
		if err != nil {
			return r, fmt.Errorf("load result %q: %s: %w", line, k, err)
		}
		seen++
	}
	if seen != 4 {
		return r, fmt.Errorf("not a load result: %q", line)
	}
	return r, nil
}

// fmtDur prints d with three significant digits, in a form
// time.ParseDuration reads back.
func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	case d >= time.Microsecond:
		return d.Round(10 * time.Nanosecond).String()
	}
	return d.String()
}

// runLoad opens cfg.conns connections with dial and runs the echo loop on
// each until cfg.duration has passed. A wrong byte in an echo, or an error
// on any connection, ends the run with an error.
func runLoad(cfg loadConfig, dial func() (io.ReadWriteCloser, error)) (loadResult, error) {
	res := loadResult{cpuMsg: -1}
	conns := make([]io.ReadWriteCloser, 0, cfg.conns)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range cfg.conns {
		c, err := dial()
		if err != nil {
			return res, fmt.Errorf("dial: %w", err)
		}
		conns = append(conns, c)
	}

	var cpu0 time.Duration
	if cfg.serverPID != 0 {
		var err error
		if cpu0, err = cfg.cpuOf(); err != nil {
			return res, err
		}
	}
	start := time.Now()
	deadline := start.Add(cfg.duration)
	rtts := make([][]time.Duration, len(conns))
	errs := make([]error, len(conns))
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() { rtts[i], errs[i] = echoLoop(c, i, cfg.size, deadline) })
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	if cfg.serverPID != 0 {
		cpu1, err := cfg.cpuOf()
		if err != nil {
			return res, err
		}
		cpu0 = cpu1 - cpu0
	}
	if err := errors.Join(errs...); err != nil {
		return res, err
	}

	err := res.fill(rtts, cpu0, cfg.serverPID != 0, "no message made the round trip")
	return res, err
}

// fill sets r's message count, p50, p99 and, if measured, CPU time per
// message from the round trips of every connection and the server's CPU
// time over the run; no round trip at all is the error none.
func (r *loadResult) fill(rtts [][]time.Duration, cpu time.Duration, measured bool, none string) error {
	all := slices.Concat(rtts...)
	r.msgs = len(all)
	if r.msgs == 0 {
		return errors.New(none)
	}
	slices.Sort(all)
	r.p50 = all[len(all)/2]
	r.p99 = all[min(len(all)-1, len(all)*99/100)]
	if measured {
		r.cpuMsg = cpu / time.Duration(r.msgs)
	}
	return nil
}

// patternShifts is the number of different messages echoLoop sends on
// one connection before it repeats one (a prime, so consecutive
// messages always differ).
const patternShifts = 251

// echoLoop sends messages on c until deadline and checks each echo.
// Message n of connection id is a pattern of its own, so a byte from
// another message or connection is caught.
func echoLoop(c io.ReadWriter, id, size int, deadline time.Time) ([]time.Duration, error) {
	// Each message is a window of pattern at another offset, so an echo
	// of an earlier message (or of another connection's) differs; taking
	// a window costs nothing, where filling size bytes per message cost
	// the client more CPU than the server's whole echo at 16 KiB.
	pattern := make([]byte, size+patternShifts)
	for i := range pattern {
		pattern[i] = byte(i*7 + id*29 + i>>8)
	}
	got := make([]byte, size)
	var rtts []time.Duration
	for n := 0; ; n++ {
		off := (n*13 + id*29) % patternShifts
		msg := pattern[off : off+size]
		t0 := time.Now()
		if t0.After(deadline) {
			return rtts, nil
		}
		if err := writeFull(c, msg); err != nil {
			return rtts, fmt.Errorf("connection %d: write: %w", id, err)
		}
		if _, err := io.ReadFull(c, got); err != nil {
			return rtts, fmt.Errorf("connection %d: read: %w", id, err)
		}
		rtts = append(rtts, time.Since(t0))
		if !bytes.Equal(got, msg) {
			at := 0
			for got[at] == msg[at] {
				at++
			}
			return rtts, fmt.Errorf("connection %d, message %d: echo differs at byte %d: got %#x, want %#x", id, n, at, got[at], msg[at])
		}
	}
}

func writeFull(w io.Writer, p []byte) error {
	for len(p) > 0 {
		n, err := w.Write(p)
		if err != nil {
			return err
		}
		p = p[n:]
	}
	return nil
}

// clockTicks is the kernel's USER_HZ, the unit of /proc/PID/stat's times:
// `getconf CLK_TCK`, or 100 (what Linux uses everywhere) if that fails.
var clockTicks = sync.OnceValue(func() int {
	b, err := exec.Command("getconf", "CLK_TCK").Output()
	if err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n > 0 {
			return n
		}
	}
	return 100
})

// procCPU returns the user plus system CPU time process pid has used.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces;
	// utime and stime are fields 14 and 15, the 12th and 13th after it.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields after the name", pid, len(f))
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return time.Duration(utime+stime) * time.Second / time.Duration(clockTicks()), nil
}
