package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/gokernel/gokernel/internal/cli"
)

func init() {
	register(&cli.Command{
		Name:     "perf-split",
		Args:     "[FILE]",
		Summary:  "split a server's perf samples into what any backend pays, Go's scheduler, and what io_uring can replace",
		NoKernel: true,
		Help: `perf-split reads the output of "perf script -F ip,sym,dso" of a recording
made with call graphs (perf record -g) from FILE, or from standard input,
and sorts every sample by its stack into three groups, then prints each
group's share of the samples and its parts (httpfloor.sh, docs/aio.md,
"HTTP: what a backend can change"):

  any backend   work every backend of the same server does: user code that
                is not Go's scheduler (net/http and the handler, GC and
                allocation) and the kernel's work inside the system calls
                (TCP, the file system, page faults)
  runtime       Go's scheduler: sysmon, threads sleeping and waking
                (futex), findRunnable, parking and readying goroutines
  replaceable   what an io_uring backend can replace: waiting for
                readiness (epoll_pwait, runtime.netpoll; io_uring_enter
                outside TCP), the system call crossings and Go's
                entersyscall/exitsyscall around them, and gokernel's own
                fd runtime code

A sample's first matching rule decides, in the order of the list printed
with -rules. Samples no rule takes are "other". The rules are made for
network servers: io_uring_enter outside TCP counts as waiting, so a
server whose ring also opens and reads files would see that work there.`,
		Setup: func(fs *flag.FlagSet) func([]string) error {
			rules := fs.Bool("rules", false, "print the rules and exit")
			return func(args []string) error {
				if *rules {
					for _, r := range splitRules {
						fmt.Fprintf(out.W, "%-12s %-36s %s\n", r.group, r.part, r.doc)
					}
					return nil
				}
				var in io.Reader = os.Stdin
				switch len(args) {
				case 0:
				case 1:
					f, err := os.Open(args[0])
					if err != nil {
						return err
					}
					defer f.Close()
					in = f
				default:
					return fmt.Errorf("%w: perf-split takes at most one file", errUsage)
				}
				s, err := splitSamples(in)
				if err != nil {
					return err
				}
				fmt.Fprint(out.W, s)
				return nil
			}
		},
	})
}

// A perfFrame is one frame of a sample's stack, innermost first.
type perfFrame struct {
	sym    string
	kernel bool
}

// A splitRule takes the samples whose stack it matches.
type splitRule struct {
	group, part, doc string
	match            func(stack []perfFrame) bool
}

// anyOf matches a stack with a frame whose symbol is one of syms.
func anyOf(syms ...string) func([]perfFrame) bool {
	return func(st []perfFrame) bool {
		return slices.ContainsFunc(st, func(f perfFrame) bool { return slices.Contains(syms, f.sym) })
	}
}

// anyPrefix matches a stack with a frame whose symbol starts with one of
// prefixes.
func anyPrefix(prefixes ...string) func([]perfFrame) bool {
	return func(st []perfFrame) bool {
		return slices.ContainsFunc(st, func(f perfFrame) bool {
			return slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(f.sym, p) })
		})
	}
}

// kernelLeaf matches a stack whose innermost frame is in the kernel and
// is one of syms (or any kernel frame, without syms).
func kernelLeaf(syms ...string) func([]perfFrame) bool {
	return func(st []perfFrame) bool {
		return len(st) > 0 && st[0].kernel && (len(syms) == 0 || slices.Contains(syms, st[0].sym))
	}
}

// both, either and not combine matchers.
func both(a, b func([]perfFrame) bool) func([]perfFrame) bool {
	return func(st []perfFrame) bool { return a(st) && b(st) }
}

func either(a, b func([]perfFrame) bool) func([]perfFrame) bool {
	return func(st []perfFrame) bool { return a(st) || b(st) }
}

func not(a func([]perfFrame) bool) func([]perfFrame) bool {
	return func(st []perfFrame) bool { return !a(st) }
}

// The groups.
const (
	groupAny     = "any backend"
	groupRuntime = "runtime"
	groupReplace = "replaceable"
)

// kernelTCP matches the kernel's socket work.
var kernelTCP = anyPrefix("tcp_", "__tcp_", "inet_", "ip_", "net_rx", "unix_", "sock_sendmsg", "sock_recvmsg", "sock_read_iter", "sock_write_iter")

// splitRules are perf-split's rules, first match first.
var splitRules = []splitRule{
	{groupRuntime, "sysmon", "runtime.sysmon", anyOf("runtime.sysmon")},
	{groupReplace, "epoll wait/ctl, runtime.netpoll", "do_epoll_wait, do_epoll_ctl, runtime.netpoll",
		anyOf("do_epoll_wait", "do_epoll_pwait", "do_epoll_ctl", "runtime.netpoll")},
	{groupReplace, "io_uring_enter outside TCP", "__do_sys_io_uring_enter without a tcp_ frame",
		both(anyOf("__do_sys_io_uring_enter"), not(kernelTCP))},
	{groupRuntime, "thread sleep/wake", "runtime.futex, notesleep/notewakeup, startm/stopm, handoffp, usleep, osyield",
		anyOf("runtime.futex", "runtime.notesleep", "runtime.notewakeup", "runtime.stopm", "runtime.startm",
			"runtime.wakep", "runtime.osyield", "runtime.usleep", "runtime.stoplockedm", "runtime.startlockedm", "runtime.handoffp")},
	{groupRuntime, "findRunnable", "runtime.findRunnable (stealing, spinning)", anyOf("runtime.findRunnable")},
	{groupReplace, "entersyscall/exitsyscall", "runtime.entersyscall, exitsyscall and their helpers",
		anyOf("runtime.entersyscall", "runtime.reentersyscall", "runtime.exitsyscall", "runtime.exitsyscallfast", "runtime.exitsyscall0", "runtime.entersyscall_sysmon")},
	{groupRuntime, "goroutine park/ready", "runtime.mcall, park_m, gopark, goready, schedule, execute, gogo",
		anyOf("runtime.mcall", "runtime.park_m", "runtime.gopark", "runtime.goready", "runtime.ready",
			"runtime.schedule", "runtime.execute", "runtime.gogo", "runtime.casgstatus", "runtime.goschedImpl")},
	{groupReplace, "system call entry/exit", "a kernel leaf in the entry, exit or return-to-user code",
		kernelLeaf("entry_SYSCALL_64", "entry_SYSCALL_64_after_hwframe", "entry_SYSCALL_64_safe_stack",
			"syscall_return_via_sysret", "entry_SYSRETQ_unsafe_stack", "do_syscall_64", "x64_sys_call",
			"syscall_exit_to_user_mode", "exit_to_user_mode_prepare", "exit_to_user_mode_loop",
			"arch_exit_to_user_mode_prepare", "syscall_exit_work", "syscall_trace_enter", "irqentry_exit_to_user_mode",
			"__rseq_handle_notify_resume", "rseq_ip_fixup", "rseq_get_rseq_cs", "clear_bhb_loop",
			"srso_return_thunk", "srso_safe_ret", "retbleed_return_thunk",
			"fpregs_restore_userregs", "switch_fpu_return", "restore_fpregs_from_fpstate")},
	{groupAny, "kernel TCP", "kernel frames under tcp_*, inet_*, ip_*, sock_*msg", both(kernelLeaf(), kernelTCP)},
	{groupAny, "kernel files, fcntl, faults", "openat, fstat, sendfile, splice, read/write of files, close, fcntl, page faults",
		both(kernelLeaf(), anyOf("do_sys_openat2", "path_openat", "__do_sys_newfstatat", "__do_sys_newfstat", "vfs_fstat",
			"vfs_statx", "do_sendfile", "do_splice_direct", "__do_splice", "splice_file_to_pipe", "__fput", "filp_close",
			"__x64_sys_close", "task_work_run", "ksys_read", "ksys_write", "vfs_read", "vfs_write", "asm_exc_page_fault",
			"do_fcntl", "__x64_sys_fcntl", "__x64_sys_madvise"))},
	{groupRuntime, "thread sleep/wake", "kernel schedule, finish_task_switch",
		both(kernelLeaf(), anyOf("schedule", "__schedule", "finish_task_switch.isra.0"))},
	{groupAny, "Go allocation and GC", "runtime.gc*, mallocgc, bgsweep, scanobject",
		both(not(kernelLeaf()), either(anyPrefix("runtime.gc"), anyOf("runtime.bgsweep", "runtime.bgscavenge", "runtime.mallocgc",
			"runtime.scanobject", "runtime.scanObject", "runtime.makeslice", "runtime.newobject")))},
	{groupAny, "net/http and the handler", "net/http, bufio, net/textproto",
		both(not(kernelLeaf()), anyPrefix("net/http", "bufio.", "net/textproto"))},
	{groupReplace, "gokernel's fd runtime", "github.com/gokernel/ (unet, aio, eloop)",
		both(not(kernelLeaf()), anyPrefix("github.com/gokernel/"))},
}

// A perfSplit is perf-split's result: samples per rule (by index), and
// those no rule took.
type perfSplit struct {
	total, other int
	byRule       []int
}

// splitSamples reads perf script's samples from in and sorts them.
func splitSamples(in io.Reader) (*perfSplit, error) {
	s := &perfSplit{byRule: make([]int, len(splitRules))}
	var stack []perfFrame
	flush := func() {
		if len(stack) == 0 {
			return
		}
		s.total++
		i := slices.IndexFunc(splitRules, func(r splitRule) bool { return r.match(stack) })
		if i < 0 {
			s.other++
		} else {
			s.byRule[i]++
		}
		stack = stack[:0]
	}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			flush()
			continue
		}
		if f, ok := parsePerfFrame(line); ok {
			stack = append(stack, f)
		}
	}
	flush()
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if s.total == 0 {
		return nil, fmt.Errorf("perf-split: no samples (want the output of perf script -F ip,sym,dso of a recording made with -g)")
	}
	return s, nil
}

// parsePerfFrame parses one frame line of perf script -F ip,sym,dso:
// "ffffffff8b2a1f30 tcp_sendmsg+0x30 ([kernel.kallsyms])". Lines that
// are not frames (a sample's header with other fields) are skipped.
func parsePerfFrame(line string) (perfFrame, bool) {
	ip, rest, ok := strings.Cut(line, " ")
	if !ok || strings.Trim(ip, "0123456789abcdef") != "" {
		return perfFrame{}, false
	}
	rest = strings.TrimSpace(rest)
	sym, dso := rest, ""
	if i := strings.LastIndex(rest, " ("); i >= 0 && strings.HasSuffix(rest, ")") {
		sym, dso = rest[:i], rest[i+2:len(rest)-1]
	}
	if i := strings.LastIndex(sym, "+0x"); i >= 0 {
		sym = sym[:i]
	}
	return perfFrame{sym: sym, kernel: strings.Contains(dso, "kernel")}, true
}

// String prints each group's share and its parts, largest first.
func (s *perfSplit) String() string {
	var b strings.Builder
	pct := func(n int) float64 { return 100 * float64(n) / float64(s.total) }
	fmt.Fprintf(&b, "%d samples\n", s.total)
	for _, g := range []string{groupAny, groupRuntime, groupReplace} {
		parts := map[string]int{}
		n := 0
		for i, r := range splitRules {
			if r.group == g {
				parts[r.part] += s.byRule[i]
				n += s.byRule[i]
			}
		}
		names := make([]string, 0, len(parts))
		for p := range parts {
			names = append(names, p)
		}
		slices.SortFunc(names, func(a, c string) int {
			if d := parts[c] - parts[a]; d != 0 {
				return d
			}
			return strings.Compare(a, c)
		})
		fmt.Fprintf(&b, "%5.1f%%  %s:", pct(n), g)
		for _, p := range names {
			fmt.Fprintf(&b, " %s %.1f%%,", p, pct(parts[p]))
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "%5.1f%%  other\n", pct(s.other))
	return strings.ReplaceAll(b.String(), ",\n", "\n")
}
