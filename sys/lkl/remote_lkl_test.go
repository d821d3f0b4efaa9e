//go:build lkl

package lkl_test

// Kernel.ForProcess: system calls on LKL whose pointer arguments are
// addresses in another process (third_party/lkl fix 16). The other process
// is this test binary started again as a "remote-holder" child: it lends
// the memory of one holderMem and reports what the parent's calls left in
// it.

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/sys/lkl"
)

func init() {
	children["remote-holder"] = childRemoteHolder
	children["remote-halt"] = childRemoteHalt
}

// atFDCWD is AT_FDCWD as a system call argument.
const atFDCWD = ^uintptr(99)

// consoleMsg is what the console test writes to LKL's fd 2 (the test's
// stderr) from the holder's memory.
const consoleMsg = "lkl remote console check\n"

// holderMem is the memory a holder lends. Parent and child are one binary,
// so the field offsets agree.
type holderMem struct {
	Path  [128]byte
	Data  [4096]byte // pattern(i) at start
	Out   [4096]byte
	Stat  [unsafe.Sizeof(unix.Stat_t{}) + 16]byte // a struct stat and poison after it
	Fds   [2]int32
	Poll  unix.PollFd
	Msg   [len(consoleMsg)]byte
	Iov   [2]unix.Iovec // {Msg[:0]}, {Msg}
	Short [8]byte

	// A UDP message to Addr made of Data[0:100] and Data[100:200]
	// (SendMsg), received into Out with its source in From (RecvMsg):
	// pointers nested two deep, and FIONREAD's int in Int.
	Addr    unix.RawSockaddrInet4 // 127.0.0.1, port from getsockname
	AddrLen uint32
	From    unix.RawSockaddrInet4
	SendIov [2]unix.Iovec
	RecvIov [1]unix.Iovec
	SendMsg unix.Msghdr
	RecvMsg unix.Msghdr
	Int     int32
}

func pattern(i int) byte { return byte(i*7 + 3) }

// childRemoteHolder prints "mem=M hole=H edge=E end=N": its holderMem,
// an unmapped page, a page of 'a's with no NUL followed by the unmapped
// one, and the path "/nofile" ending at the end of the last byte of a page
// followed by an unmapped one. Then it answers commands on stdin until EOF.
func childRemoteHolder() error {
	m := new(holderMem)
	copy(m.Path[:], os.Getenv("REMOTE_PATH")+"\x00")
	for i := range m.Data {
		m.Data[i] = pattern(i)
	}
	for i := range m.Stat {
		m.Stat[i] = 0xCD
	}
	copy(m.Msg[:], consoleMsg)
	m.Iov[0] = unix.Iovec{Base: &m.Msg[0]}
	m.Iov[1] = unix.Iovec{Base: &m.Msg[0]}
	m.Iov[1].SetLen(len(consoleMsg))
	m.Addr = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: [4]byte{127, 0, 0, 1}}
	m.AddrLen = uint32(unsafe.Sizeof(m.Addr))
	m.SendIov[0] = unix.Iovec{Base: &m.Data[0]}
	m.SendIov[0].SetLen(100)
	m.SendIov[1] = unix.Iovec{Base: &m.Data[100]}
	m.SendIov[1].SetLen(100)
	m.RecvIov[0] = unix.Iovec{Base: &m.Out[0]}
	m.RecvIov[0].SetLen(len(m.Out))
	m.SendMsg = unix.Msghdr{Name: (*byte)(unsafe.Pointer(&m.Addr)), Namelen: m.AddrLen, Iov: &m.SendIov[0]}
	m.SendMsg.SetIovlen(len(m.SendIov))
	m.RecvMsg = unix.Msghdr{Name: (*byte)(unsafe.Pointer(&m.From)), Namelen: m.AddrLen, Iov: &m.RecvIov[0]}
	m.RecvMsg.SetIovlen(len(m.RecvIov))
	// Four pages: 0 full of 'a' (no NUL); 1 unmapped (the hole); 2 full
	// of 'a' but for "/nofile\0" in its last 8 bytes; 3 unmapped.
	region, err := unix.Mmap(-1, 0, 4*4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return err
	}
	for i := range region {
		region[i] = 'a'
	}
	copy(region[3*4096-8:], "/nofile\x00")
	base := uintptr(unsafe.Pointer(&region[0]))
	for _, page := range []uintptr{1, 3} {
		if _, _, e := unix.Syscall(unix.SYS_MUNMAP, base+page*4096, 4096, 0); e != 0 {
			return e
		}
	}
	fmt.Printf("mem=%#x hole=%#x edge=%#x end=%#x\n", uintptr(unsafe.Pointer(m)), base+4096, base, base+3*4096-8)

	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		cmd, arg, _ := strings.Cut(in.Text(), " ")
		switch cmd {
		case "out":
			n, _ := strconv.Atoi(arg)
			fmt.Println(hex.EncodeToString(m.Out[:n]))
		case "short":
			fmt.Println(hex.EncodeToString(m.Short[:]))
		case "stat":
			st := (*unix.Stat_t)(unsafe.Pointer(&m.Stat[0]))
			poison := bytes.Count(m.Stat[unsafe.Sizeof(*st):], []byte{0xCD})
			fmt.Printf("ino=%d size=%d mode=%o nlink=%d poison=%d\n", st.Ino, st.Size, st.Mode, st.Nlink, poison)
		case "fds":
			fmt.Printf("%d %d\n", m.Fds[0], m.Fds[1])
		case "poll-set":
			fd, _ := strconv.Atoi(arg)
			m.Poll = unix.PollFd{Fd: int32(fd), Events: unix.POLLIN, Revents: -1}
			fmt.Println("ok")
		case "poll":
			fmt.Printf("%#x\n", uint16(m.Poll.Revents))
		case "udp":
			fmt.Printf("int=%d from=%v:%d namelen=%d\n", m.Int, m.From.Addr, m.From.Port, m.RecvMsg.Namelen)
		default:
			fmt.Println("unknown command", cmd)
		}
	}
	runtime.KeepAlive(m)
	runtime.KeepAlive(region)
	return in.Err()
}

// holder is the parent's side of a remote-holder child.
type holder struct {
	cmd             *exec.Cmd
	in              io.WriteCloser
	out             *bufio.Reader
	pid             int
	mem, hole, edge uintptr
	end             uintptr
	waitOnce        sync.Once
	waitErr         error
	stderr          strings.Builder
}

func startHolder(t testing.TB, path string) *holder {
	t.Helper()
	h := &holder{cmd: exec.Command(os.Args[0], "-test.run=^$")}
	h.cmd.Env = append(os.Environ(), childEnv+"=remote-holder", "REMOTE_PATH="+path)
	h.cmd.Stderr = &h.stderr
	in, err := h.cmd.StdinPipe()
	require.NoError(t, err)
	out, err := h.cmd.StdoutPipe()
	require.NoError(t, err)
	h.in, h.out = in, bufio.NewReader(out)
	require.NoError(t, h.cmd.Start())
	t.Cleanup(func() { h.exit() })
	h.pid = h.cmd.Process.Pid
	line, err := h.out.ReadString('\n')
	require.NoError(t, err, "holder: %s", h.stderr.String())
	_, err = fmt.Sscanf(line, "mem=%v hole=%v edge=%v end=%v", &h.mem, &h.hole, &h.edge, &h.end)
	require.NoError(t, err, "holder said %q", line)
	return h
}

// at returns the holder's address of the field at offset off of holderMem.
func (h *holder) at(off uintptr) uintptr { return h.mem + off }

// ask sends a command and returns the holder's one-line answer.
func (h *holder) ask(t testing.TB, cmd string) string {
	t.Helper()
	_, err := io.WriteString(h.in, cmd+"\n")
	require.NoError(t, err)
	line, err := h.out.ReadString('\n')
	require.NoError(t, err, "holder: %s", h.stderr.String())
	return strings.TrimSpace(line)
}

// exit ends the holder (EOF on its stdin) and waits for it.
func (h *holder) exit() error {
	h.waitOnce.Do(func() {
		h.in.Close()
		h.waitErr = h.cmd.Wait()
	})
	return h.waitErr
}

var off = struct {
	path, data, out, stat, fds, poll, msg, iov, short uintptr
	addr, addrLen, sendMsg, recvMsg, int              uintptr
}{
	unsafe.Offsetof(holderMem{}.Path), unsafe.Offsetof(holderMem{}.Data), unsafe.Offsetof(holderMem{}.Out),
	unsafe.Offsetof(holderMem{}.Stat), unsafe.Offsetof(holderMem{}.Fds), unsafe.Offsetof(holderMem{}.Poll),
	unsafe.Offsetof(holderMem{}.Msg), unsafe.Offsetof(holderMem{}.Iov), unsafe.Offsetof(holderMem{}.Short),
	unsafe.Offsetof(holderMem{}.Addr), unsafe.Offsetof(holderMem{}.AddrLen), unsafe.Offsetof(holderMem{}.SendMsg),
	unsafe.Offsetof(holderMem{}.RecvMsg), unsafe.Offsetof(holderMem{}.Int),
}

// forProcess is kern.ForProcess(pid), which needs LKL built with fix 16.
func forProcess(t testing.TB, pid int) *lkl.Process {
	t.Helper()
	p, err := kern.ForProcess(pid)
	require.NoError(t, err)
	return p
}

// holderFile starts a holder and, through ForProcess for it, creates the
// LKL file /remote_NAME_PID (path and data in the holder's memory) with the
// first n bytes of the holder's pattern; the fd and the file are gone after
// the test.
func holderFile(t testing.TB, name string, n uintptr) (*holder, *lkl.Process, uintptr) {
	t.Helper()
	path := fmt.Sprintf("/remote_%s_%d", name, os.Getpid())
	h := startHolder(t, path)
	p := forProcess(t, h.pid)
	fd := rcall(t, p, "openat", unix.SYS_OPENAT, atFDCWD, h.at(off.path), unix.O_CREAT|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	t.Cleanup(func() {
		call(unix.SYS_CLOSE, fd)
		call(unix.SYS_UNLINK, uintptr(unsafe.Pointer(cstr(t, path))))
	})
	require.Equal(t, n, rcall(t, p, "write", unix.SYS_WRITE, fd, h.at(off.data), n))
	return h, p, fd
}

// rcall makes a call through p and fails the test on an error.
func rcall(t testing.TB, p sys.Kernel, what string, trap uintptr, a ...uintptr) uintptr {
	t.Helper()
	var args [6]uintptr
	copy(args[:], a)
	r, _, e := p.Syscall(trap, args[0], args[1], args[2], args[3], args[4], args[5])
	require.Zero(t, e, "%s: %v", what, e)
	return r
}

// rerr makes a call through p and returns its errno.
func rerr(p sys.Kernel, trap uintptr, a ...uintptr) sys.Errno {
	var args [6]uintptr
	copy(args[:], a)
	_, _, e := p.Syscall(trap, args[0], args[1], args[2], args[3], args[4], args[5])
	return e
}

func wantPattern(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = pattern(i)
	}
	return hex.EncodeToString(b)
}

// TestForProcessFileIO: open, write, pread, read, stat and fstat with
// every pointer in the holder's memory; what LKL wrote is checked in the
// holder, and the in-process kernel sees the same file and fd table.
func TestForProcessFileIO(t *testing.T) {
	kerneltest.CheckFDs(t, kern)
	path := fmt.Sprintf("/remote_io_%d", os.Getpid())
	h := startHolder(t, path)
	p := forProcess(t, h.pid)
	require.Equal(t, h.pid, p.Pid())
	require.Equal(t, "lkl", p.Name())

	fd := rcall(t, p, "openat", unix.SYS_OPENAT, atFDCWD, h.at(off.path), unix.O_CREAT|unix.O_RDWR|unix.O_TRUNC|unix.O_CLOEXEC, 0o640)
	defer call(unix.SYS_UNLINK, uintptr(unsafe.Pointer(cstr(t, path))))
	require.Equal(t, uintptr(4096), rcall(t, p, "write", unix.SYS_WRITE, fd, h.at(off.data), 4096))
	require.Equal(t, uintptr(4096), rcall(t, p, "pread", unix.SYS_PREAD64, fd, h.at(off.out), 4096, 0))
	require.Equal(t, wantPattern(4096), h.ask(t, "out 4096"), "pread landed in the holder's buffer")

	// read at an offset after lseek (read is a console rewrite; fd is not
	// a console fd, so it is LKL's read).
	rcall(t, p, "lseek", unix.SYS_LSEEK, fd, 4088, io.SeekStart)
	require.Equal(t, uintptr(8), rcall(t, p, "read", unix.SYS_READ, fd, h.at(off.short), 64))
	b := make([]byte, 4096)
	for i := range b {
		b[i] = pattern(i)
	}
	require.Equal(t, hex.EncodeToString(b[4088:]), h.ask(t, "short"))

	// fstat converts LKL's struct stat into the holder's host one, in
	// place, and writes nothing past it (the poison after it stays).
	rcall(t, p, "fstat", unix.SYS_FSTAT, fd, h.at(off.stat))
	var local unix.Stat_t
	mustCall(t, "stat", unix.SYS_STAT, uintptr(unsafe.Pointer(cstr(t, path))), uintptr(unsafe.Pointer(&local)))
	want := fmt.Sprintf("ino=%d size=4096 mode=100640 nlink=1 poison=16", local.Ino)
	require.Equal(t, want, h.ask(t, "stat"))
	// stat and newfstatat: path and struct both in the holder.
	for _, c := range []struct {
		trap uintptr
		args []uintptr
	}{
		{unix.SYS_STAT, []uintptr{h.at(off.path), h.at(off.stat)}},
		{unix.SYS_LSTAT, []uintptr{h.at(off.path), h.at(off.stat)}},
		{unix.SYS_NEWFSTATAT, []uintptr{atFDCWD, h.at(off.path), h.at(off.stat), 0}},
	} {
		rcall(t, p, sys.SyscallName(c.trap), c.trap, c.args...)
		require.Equal(t, want, h.ask(t, "stat"), sys.SyscallName(c.trap))
	}

	// One fd table: the in-process kernel sees the fd, and a close through
	// the Process closes it there.
	mustCall(t, "fcntl", unix.SYS_FCNTL, fd, unix.F_GETFD)
	rcall(t, p, "close", unix.SYS_CLOSE, fd)
	_, e := call(unix.SYS_FCNTL, fd, unix.F_GETFD)
	require.Equal(t, unix.EBADF, e)
}

// TestForProcessPipePoll: pipe2's fd pair, poll with and without a timeout
// (the timeout case runs on a copy of the pollfds), in the holder.
func TestForProcessPipePoll(t *testing.T) {
	kerneltest.CheckFDs(t, kern)
	h := startHolder(t, "/")
	p := forProcess(t, h.pid)
	rcall(t, p, "pipe2", unix.SYS_PIPE2, h.at(off.fds), unix.O_CLOEXEC)
	var rfd, wfd uintptr
	_, err := fmt.Sscanf(h.ask(t, "fds"), "%d %d", &rfd, &wfd)
	require.NoError(t, err)
	defer call(unix.SYS_CLOSE, rfd)
	defer call(unix.SYS_CLOSE, wfd)

	require.Equal(t, "ok", h.ask(t, "poll-set "+strconv.Itoa(int(rfd))))
	require.Equal(t, uintptr(0), rcall(t, p, "poll", unix.SYS_POLL, h.at(off.poll), 1, 0), "empty pipe")
	require.Equal(t, "0x0", h.ask(t, "poll"), "revents written back")
	rcall(t, p, "write", unix.SYS_WRITE, wfd, h.at(off.data), 16)
	for _, msec := range []uintptr{100, ^uintptr(0)} {
		require.Equal(t, "ok", h.ask(t, "poll-set "+strconv.Itoa(int(rfd))))
		require.Equal(t, uintptr(1), rcall(t, p, "poll", unix.SYS_POLL, h.at(off.poll), 1, msec))
		require.Equal(t, fmt.Sprintf("%#x", unix.POLLIN), h.ask(t, "poll"), "timeout %d", int(msec))
	}
	require.Equal(t, uintptr(16), rcall(t, p, "read", unix.SYS_READ, rfd, h.at(off.out), 64))
	require.Equal(t, wantPattern(16), h.ask(t, "out 16"))
}

// TestForProcessNestedPointers: bind, getsockname, sendmsg, ioctl and
// recvmsg on LKL's loopback with the sockaddrs, msghdrs, their iovecs and
// the data all in the holder: LKL follows the nested pointers itself.
func TestForProcessNestedPointers(t *testing.T) {
	kerneltest.CheckFDs(t, kern)
	h := startHolder(t, "/")
	p := forProcess(t, h.pid)
	rx := rcall(t, p, "socket", unix.SYS_SOCKET, unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	defer call(unix.SYS_CLOSE, rx)
	tx := rcall(t, p, "socket", unix.SYS_SOCKET, unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	defer call(unix.SYS_CLOSE, tx)
	rcall(t, p, "bind", unix.SYS_BIND, rx, h.at(off.addr), 16)
	rcall(t, p, "getsockname", unix.SYS_GETSOCKNAME, rx, h.at(off.addr), h.at(off.addrLen))
	require.Equal(t, uintptr(200), rcall(t, p, "sendmsg", unix.SYS_SENDMSG, tx, h.at(off.sendMsg), 0))
	rcall(t, p, "ioctl SIOCINQ (FIONREAD)", unix.SYS_IOCTL, rx, unix.SIOCINQ, h.at(off.int))
	require.Equal(t, uintptr(200), rcall(t, p, "recvmsg", unix.SYS_RECVMSG, rx, h.at(off.recvMsg), 0))
	require.Equal(t, wantPattern(200), h.ask(t, "out 200"))
	// The source is tx's address: 127.0.0.1 and the port LKL gave it.
	var txAddr unix.RawSockaddrInet4
	n := uint32(unsafe.Sizeof(txAddr))
	mustCall(t, "getsockname", unix.SYS_GETSOCKNAME, tx, uintptr(unsafe.Pointer(&txAddr)), uintptr(unsafe.Pointer(&n)))
	require.Equal(t, fmt.Sprintf("int=200 from=[127 0 0 1]:%d namelen=16", txAddr.Port), h.ask(t, "udp"))
}

// TestForProcessConsole: the console fds' data calls move the holder's
// bytes to the host fd through Config.Host (the Tracer of TestMain).
func TestForProcessConsole(t *testing.T) {
	h := startHolder(t, "/")
	p := forProcess(t, h.pid)
	n := uintptr(len(consoleMsg))
	require.Equal(t, n, rcall(t, p, "write", unix.SYS_WRITE, 2, h.at(off.msg), n))
	require.Equal(t, n, rcall(t, p, "writev", unix.SYS_WRITEV, 2, h.at(off.iov), 2), "the first non-empty iovec")
	require.Equal(t, uintptr(0), rcall(t, p, "read", unix.SYS_READ, 0, h.at(off.out), 0))
	_, _, e := p.Syscall(unix.SYS_PREAD64, 1, h.at(off.out), 1, 0, 0, 0)
	require.Equal(t, unix.ESPIPE, e)
	require.Equal(t, unix.EFAULT, rerr(p, unix.SYS_WRITE, 2, h.hole, 8))
	hostCalls.Lock()
	defer hostCalls.Unlock()
	writes := 0
	for _, c := range hostCalls.calls {
		if c.Trap == unix.SYS_WRITE && c.Args[0] == 2 && c.Args[2] == n && c.R1 == n {
			writes++
		}
	}
	require.GreaterOrEqual(t, writes, 2, "host writes of the message to fd 2: %v", hostCalls.calls)
}

// TestForProcessBadPointers: unmapped holder memory, a NULL-page pointer
// and a path that runs into an unmapped page are EFAULT, and the test
// process (and its kernel) carry on.
func TestForProcessBadPointers(t *testing.T) {
	kerneltest.CheckFDs(t, kern)
	h, p, fd := holderFile(t, "bad", 64)

	for name, e := range map[string]sys.Errno{
		"openat(hole)":               rerr(p, unix.SYS_OPENAT, atFDCWD, h.hole, unix.O_RDONLY),
		"openat(no NUL before hole)": rerr(p, unix.SYS_OPENAT, atFDCWD, h.edge+100, unix.O_RDONLY),
		"stat(hole)":                 rerr(p, unix.SYS_STAT, h.hole, h.at(off.stat)),
		"write(hole)":                rerr(p, unix.SYS_PWRITE64, fd, h.hole, 16, 0),
		"pread(hole)":                rerr(p, unix.SYS_PREAD64, fd, h.hole, 16, 0),
		"read(NULL page)":            rerr(p, unix.SYS_PREAD64, fd, 16, 16, 0),
		"fstat(hole)":                rerr(p, unix.SYS_FSTAT, fd, h.hole),
		"pipe2(hole)":                rerr(p, unix.SYS_PIPE2, h.hole, 0),
		"poll(hole, timeout)":        rerr(p, unix.SYS_POLL, h.hole, 1, 10),
		"writev(iovec in hole)":      rerr(p, unix.SYS_WRITEV, fd, h.hole, 1),
	} {
		require.Equal(t, unix.EFAULT, e, name)
	}
	// A path with no NUL within PATH_MAX bytes, all mapped, is too long,
	// as on Linux (getname copies at most PATH_MAX).
	require.Equal(t, unix.ENAMETOOLONG, rerr(p, unix.SYS_OPENAT, atFDCWD, h.edge, unix.O_RDONLY))
	// A path that ends at the last byte of a mapped page is read whole.
	require.Equal(t, unix.ENOENT, rerr(p, unix.SYS_OPENAT, atFDCWD, h.end, unix.O_RDONLY), "/nofile")
	var ls unix.Stat_t
	mustCall(t, "fstat", unix.SYS_FSTAT, fd, uintptr(unsafe.Pointer(&ls)))
	require.Equal(t, int64(64), ls.Size, "no failed write wrote anything")
	_, e := call(unix.SYS_GETPID)
	require.Zero(t, e)
}

// TestForProcessDeadProcess: once the process is gone, a call that needs
// its memory is ESRCH, and ForProcess says so too.
func TestForProcessDeadProcess(t *testing.T) {
	kerneltest.CheckFDs(t, kern)
	h := startHolder(t, "/")
	p := forProcess(t, h.pid)
	fd := mustCall(t, "open", unix.SYS_OPEN, uintptr(unsafe.Pointer(cstr(t, "/"))), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC)
	defer call(unix.SYS_CLOSE, fd)
	require.NoError(t, h.exit())

	require.Equal(t, unix.ESRCH, rerr(p, unix.SYS_FSTAT, fd, h.at(off.stat)))
	require.Equal(t, unix.ESRCH, rerr(p, unix.SYS_OPENAT, atFDCWD, h.at(off.path), unix.O_RDONLY))
	require.Equal(t, unix.ESRCH, rerr(p, unix.SYS_GETDENTS64, fd, h.at(off.out), 4096))
	_, err := kern.ForProcess(h.pid)
	require.ErrorIs(t, err, syscall.ESRCH)
	_, err = kern.ForProcess(0)
	require.ErrorContains(t, err, "not a process id")
}

// TestForProcessConcurrent: goroutines read disjoint parts of a file into
// disjoint parts of the holder's buffer at once, next to in-process calls.
func TestForProcessConcurrent(t *testing.T) {
	kerneltest.CheckFDs(t, kern)
	h, p, fd := holderFile(t, "conc", 4096)

	const workers, chunk = 8, 4096 / 8
	errs := make(chan error, 2*workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for range 200 {
				o := uintptr(w * chunk)
				if r, _, e := p.Syscall(unix.SYS_PREAD64, fd, h.at(off.out)+o, chunk, o, 0, 0); e != 0 || r != chunk {
					errs <- fmt.Errorf("worker %d: pread = %d, %v", w, r, e)
					return
				}
			}
		})
		wg.Go(func() {
			var st unix.Stat_t
			for range 200 {
				if _, e := call(unix.SYS_FSTAT, fd, uintptr(unsafe.Pointer(&st))); e != 0 || st.Size != 4096 {
					errs <- fmt.Errorf("in-process fstat: size %d, %v", st.Size, e)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	require.Equal(t, wantPattern(4096), h.ask(t, "out 4096"))
}

// TestForProcessSelf: this process through ForProcess (every pointer read
// and written with process_vm_*): the pointer stress of every kernel.
func TestForProcessSelf(t *testing.T) {
	kerneltest.CheckFDs(t, kern)
	p := forProcess(t, os.Getpid())
	kerneltest.PointerStress(t, p, 200)
}

// TestStatWritesStatT: the in-process stat conversion (LKL's struct
// written into the caller's, converted in place) writes exactly a
// unix.Stat_t.
func TestStatWritesStatT(t *testing.T) {
	buf := make([]byte, unsafe.Sizeof(unix.Stat_t{})+16)
	for i := range buf {
		buf[i] = 0xCD
	}
	mustCall(t, "stat", unix.SYS_STAT, uintptr(unsafe.Pointer(cstr(t, "/"))), uintptr(unsafe.Pointer(&buf[0])))
	st := (*unix.Stat_t)(unsafe.Pointer(&buf[0]))
	require.Equal(t, uint32(unix.S_IFDIR), st.Mode&unix.S_IFMT)
	require.Equal(t, bytes.Repeat([]byte{0xCD}, 16), buf[unsafe.Sizeof(unix.Stat_t{}):])
}

// TestForProcessAfterHalt runs childRemoteHalt.
func TestForProcessAfterHalt(t *testing.T) {
	child(t, "remote-halt")
}

// childRemoteHalt: a Process works until its kernel halts, then its calls
// are ErrHalted, as is ForProcess.
func childRemoteHalt() error {
	k, err := lkl.Boot(nil)
	if err != nil {
		return err
	}
	p, err := k.ForProcess(os.Getpid())
	if err != nil {
		return err
	}
	var fds [2]int32
	if _, _, e := sys.SyscallOn(p, unix.SYS_PIPE2, uintptr(unsafe.Pointer(&fds)), 0, 0, 0, 0, 0); e != 0 {
		return fmt.Errorf("pipe2 through the Process: %w", e)
	}
	if fds[0] < 3 || fds[1] < 3 {
		return fmt.Errorf("pipe2 through the Process wrote %v", fds)
	}
	if err := k.Halt(); err != nil {
		return err
	}
	if _, _, e := sys.SyscallOn(p, unix.SYS_GETPID, 0, 0, 0, 0, 0, 0); e != lkl.ErrHalted {
		return fmt.Errorf("getpid after halt: %v, want %v", e, lkl.ErrHalted)
	}
	if _, _, e := sys.SyscallOn(p, unix.SYS_PIPE2, uintptr(unsafe.Pointer(&fds)), 0, 0, 0, 0, 0); e != lkl.ErrHalted {
		return fmt.Errorf("pipe2 after halt: %v, want %v", e, lkl.ErrHalted)
	}
	if _, err := k.ForProcess(os.Getpid()); !errors.Is(err, lkl.ErrHalted) {
		return fmt.Errorf("ForProcess after halt: %v", err)
	}
	return nil
}
