//go:build lkl

package lkl_test

// The checks of LKL's own tools/lkl/tests/boot.c, made through sys.Syscall's
// host ABI, plus the translation and concurrency guarantees of this
// backend.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/sys"
)

func TestGetpid(t *testing.T) {
	pid := mustCall(t, "getpid", unix.SYS_GETPID)
	require.Equal(t, uintptr(1), pid, "the first LKL task")
	require.Equal(t, "lkl", kern.Name())
}

func TestUmask(t *testing.T) {
	old := mustCall(t, "umask", unix.SYS_UMASK, 0o27)
	defer call(unix.SYS_UMASK, old)
	require.Equal(t, uintptr(0o27), mustCall(t, "umask", unix.SYS_UMASK, old))
}

func TestCreatWriteLseekReadFstat(t *testing.T) {
	path := cstr(t, "/creat_test")
	fd := mustCall(t, "creat", unix.SYS_CREAT, uintptr(unsafe.Pointer(path)), 0o640)
	defer call(unix.SYS_UNLINK, uintptr(unsafe.Pointer(path)))
	msg := []byte("test message")
	require.Equal(t, uintptr(len(msg)), mustCall(t, "write", unix.SYS_WRITE, fd, uintptr(unsafe.Pointer(&msg[0])), uintptr(len(msg))))
	mustCall(t, "close", unix.SYS_CLOSE, fd)

	fd = mustCall(t, "open", unix.SYS_OPEN, uintptr(unsafe.Pointer(path)), unix.O_RDWR)
	defer call(unix.SYS_CLOSE, fd)
	require.Equal(t, uintptr(5), mustCall(t, "lseek", unix.SYS_LSEEK, fd, 5, unix.SEEK_SET))
	buf := make([]byte, 32)
	n := mustCall(t, "read", unix.SYS_READ, fd, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
	require.Equal(t, "message", string(buf[:n]))

	var st unix.Stat_t
	mustCall(t, "fstat", unix.SYS_FSTAT, fd, uintptr(unsafe.Pointer(&st)))
	umask := mustCall(t, "umask", unix.SYS_UMASK, 0o22)
	call(unix.SYS_UMASK, umask)
	require.Equal(t, uint32(unix.S_IFREG|(0o640&^umask)), st.Mode)
	require.Equal(t, int64(len(msg)), st.Size)
	require.Equal(t, uint64(1), st.Nlink)
	require.NotZero(t, st.Ino)
	require.Positive(t, st.Mtim.Sec)

	// Every stat call agrees after conversion.
	for name, trap := range map[string]uintptr{"stat": unix.SYS_STAT, "lstat": unix.SYS_LSTAT} {
		st2, e := stat(t, trap, "/creat_test")
		require.Zero(t, e, name)
		require.Equal(t, st, st2, name)
	}
	var st3 unix.Stat_t
	cwd := unix.AT_FDCWD
	mustCall(t, "newfstatat", unix.SYS_NEWFSTATAT, uintptr(cwd), uintptr(unsafe.Pointer(path)), uintptr(unsafe.Pointer(&st3)), 0)
	require.Equal(t, st, st3)
	_, e := call(unix.SYS_FSTAT, fd, 0)
	require.Equal(t, unix.EFAULT, e, "a NULL stat buffer")
}

func TestOpenMissingFile(t *testing.T) {
	_, e := call(unix.SYS_OPEN, uintptr(unsafe.Pointer(cstr(t, "/no/such/file"))), unix.O_RDONLY)
	require.Equal(t, unix.ENOENT, e)
	var err error = e
	require.ErrorIs(t, err, fs.ErrNotExist)
}

func TestMkdirStat(t *testing.T) {
	p := cstr(t, "/mkdir_test")
	mustCall(t, "mkdir", unix.SYS_MKDIR, uintptr(unsafe.Pointer(p)), 0o750)
	st, e := stat(t, unix.SYS_STAT, "/mkdir_test")
	require.Zero(t, e)
	require.True(t, st.Mode&unix.S_IFMT == unix.S_IFDIR, "mode %o", st.Mode)
	_, e = call(unix.SYS_MKDIR, uintptr(unsafe.Pointer(p)), 0o750)
	require.Equal(t, unix.EEXIST, e)
	mustCall(t, "rmdir", unix.SYS_RMDIR, uintptr(unsafe.Pointer(p)))
	_, e = stat(t, unix.SYS_STAT, "/mkdir_test")
	require.Equal(t, unix.ENOENT, e)
}

func TestNamesThroughLegacyCalls(t *testing.T) {
	writeFile(t, "/names_a", []byte("A"))
	a, b, s := cstr(t, "/names_a"), cstr(t, "/names_b"), cstr(t, "/names_s")
	mustCall(t, "link", unix.SYS_LINK, uintptr(unsafe.Pointer(a)), uintptr(unsafe.Pointer(b)))
	st, _ := stat(t, unix.SYS_STAT, "/names_a")
	require.Equal(t, uint64(2), st.Nlink)
	mustCall(t, "symlink", unix.SYS_SYMLINK, uintptr(unsafe.Pointer(b)), uintptr(unsafe.Pointer(s)))
	buf := make([]byte, 64)
	n := mustCall(t, "readlink", unix.SYS_READLINK, uintptr(unsafe.Pointer(s)), uintptr(unsafe.Pointer(&buf[0])), 64)
	require.Equal(t, "/names_b", string(buf[:n]))
	lst, _ := stat(t, unix.SYS_LSTAT, "/names_s")
	require.Equal(t, uint32(unix.S_IFLNK), lst.Mode&unix.S_IFMT)
	mustCall(t, "chmod", unix.SYS_CHMOD, uintptr(unsafe.Pointer(a)), 0o600)
	mustCall(t, "access", unix.SYS_ACCESS, uintptr(unsafe.Pointer(a)), unix.R_OK)
	mustCall(t, "rename", unix.SYS_RENAME, uintptr(unsafe.Pointer(a)), uintptr(unsafe.Pointer(cstr(t, "/names_c"))))
	require.Equal(t, "A", string(readFile(t, "/names_s")))
	for _, p := range []string{"/names_b", "/names_c", "/names_s"} {
		mustCall(t, "unlink", unix.SYS_UNLINK, uintptr(unsafe.Pointer(cstr(t, p))))
	}
}

func TestNanosleep(t *testing.T) {
	ts := unix.NsecToTimespec(int64(20 * time.Millisecond))
	start := time.Now()
	mustCall(t, "nanosleep", unix.SYS_NANOSLEEP, uintptr(unsafe.Pointer(&ts)), 0)
	require.GreaterOrEqual(t, time.Since(start), 20*time.Millisecond, "nanosleep slept at least the time asked")
}

func TestPipeEpoll(t *testing.T) {
	var fds [2]int32
	mustCall(t, "pipe2", unix.SYS_PIPE2, uintptr(unsafe.Pointer(&fds)), unix.O_CLOEXEC|unix.O_NONBLOCK)
	defer call(unix.SYS_CLOSE, uintptr(fds[0]))
	defer call(unix.SYS_CLOSE, uintptr(fds[1]))
	ep := mustCall(t, "epoll_create1", unix.SYS_EPOLL_CREATE1, unix.EPOLL_CLOEXEC)
	defer call(unix.SYS_CLOSE, ep)

	// The 64-bit data must come back intact: it proves epoll_event has the
	// same (packed) layout on both sides.
	ev := unix.EpollEvent{Events: unix.EPOLLIN}
	binary.LittleEndian.PutUint64((*[8]byte)(unsafe.Pointer(&ev.Fd))[:], 0x1122334455667788)
	mustCall(t, "epoll_ctl", unix.SYS_EPOLL_CTL, ep, unix.EPOLL_CTL_ADD, uintptr(fds[0]), uintptr(unsafe.Pointer(&ev)))

	events := make([]unix.EpollEvent, 4)
	n := mustCall(t, "epoll_wait", unix.SYS_EPOLL_WAIT, ep, uintptr(unsafe.Pointer(&events[0])), 4, 0)
	require.Zero(t, n, "no events before the write")
	msg := []byte("x")
	mustCall(t, "write", unix.SYS_WRITE, uintptr(fds[1]), uintptr(unsafe.Pointer(&msg[0])), 1)
	n = mustCall(t, "epoll_pwait", unix.SYS_EPOLL_PWAIT, ep, uintptr(unsafe.Pointer(&events[0])), 4, 1000, 0, 0)
	require.Equal(t, uintptr(1), n)
	require.Equal(t, uint32(unix.EPOLLIN), events[0].Events)
	require.Equal(t, uint64(0x1122334455667788), binary.LittleEndian.Uint64((*[8]byte)(unsafe.Pointer(&events[0].Fd))[:]))

	// poll → ppoll, with and without a timeout.
	pfd := []unix.PollFd{{Fd: fds[0], Events: unix.POLLIN}}
	require.Equal(t, uintptr(1), mustCall(t, "poll", unix.SYS_POLL, uintptr(unsafe.Pointer(&pfd[0])), 1, 100))
	require.Equal(t, uintptr(1), mustCall(t, "poll", unix.SYS_POLL, uintptr(unsafe.Pointer(&pfd[0])), 1, ^uintptr(0)))
	buf := make([]byte, 4)
	mustCall(t, "read", unix.SYS_READ, uintptr(fds[0]), uintptr(unsafe.Pointer(&buf[0])), 4)
	pfd[0].Revents = 0
	require.Zero(t, mustCall(t, "poll", unix.SYS_POLL, uintptr(unsafe.Pointer(&pfd[0])), 1, 10))
	_, e := call(unix.SYS_READ, uintptr(fds[0]), uintptr(unsafe.Pointer(&buf[0])), 4)
	require.Equal(t, unix.EAGAIN, e)
}

// ifreq is struct ifreq's name and flags (linux/if.h); 40 bytes on both sides.
type ifreq struct {
	Name  [16]byte
	Flags uint16
	_     [22]byte
}

func TestLoopbackUpAndTCP(t *testing.T) {
	s := mustCall(t, "socket", unix.SYS_SOCKET, unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	defer call(unix.SYS_CLOSE, s)
	var ifr ifreq
	copy(ifr.Name[:], "lo")
	mustCall(t, "SIOCGIFFLAGS", unix.SYS_IOCTL, s, unix.SIOCGIFFLAGS, uintptr(unsafe.Pointer(&ifr)))
	require.NotZero(t, ifr.Flags&unix.IFF_UP, "Boot brings lo up")
	// Setting the flags again (what boot.c does) is accepted.
	mustCall(t, "SIOCSIFFLAGS", unix.SYS_IOCTL, s, unix.SIOCSIFFLAGS, uintptr(unsafe.Pointer(&ifr)))

	// A TCP round trip over LKL's loopback.
	c, a := loopbackTCP(t, unix.SOCK_CLOEXEC)
	defer call(unix.SYS_CLOSE, c)
	defer call(unix.SYS_CLOSE, a)
	msg := []byte("over LKL's own TCP/IP stack")
	mustCall(t, "write", unix.SYS_WRITE, c, uintptr(unsafe.Pointer(&msg[0])), uintptr(len(msg)))
	buf := make([]byte, 64)
	n := mustCall(t, "read", unix.SYS_READ, a, uintptr(unsafe.Pointer(&buf[0])), 64)
	require.Equal(t, string(msg), string(buf[:n]))
}

// loopbackTCP connects a socket to a listener on 127.0.0.1 (port 0) in
// LKL and returns the connected fd and the accepted one, accepted with
// accept4's acceptFlags; the listener is closed again.
func loopbackTCP(t *testing.T, acceptFlags uintptr) (client, server uintptr) {
	t.Helper()
	ln := mustCall(t, "socket", unix.SYS_SOCKET, unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	defer call(unix.SYS_CLOSE, ln)
	sa := unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: [4]byte{127, 0, 0, 1}}
	mustCall(t, "bind", unix.SYS_BIND, ln, uintptr(unsafe.Pointer(&sa)), unsafe.Sizeof(sa))
	mustCall(t, "listen", unix.SYS_LISTEN, ln, 8)
	salen := uint32(unsafe.Sizeof(sa))
	mustCall(t, "getsockname", unix.SYS_GETSOCKNAME, ln, uintptr(unsafe.Pointer(&sa)), uintptr(unsafe.Pointer(&salen)))
	require.NotZero(t, sa.Port)
	client = mustCall(t, "socket", unix.SYS_SOCKET, unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	mustCall(t, "connect", unix.SYS_CONNECT, client, uintptr(unsafe.Pointer(&sa)), unsafe.Sizeof(sa))
	server = mustCall(t, "accept4", unix.SYS_ACCEPT4, ln, 0, 0, acceptFlags)
	return client, server
}

func TestManyThreadsGetpid(t *testing.T) {
	const goroutines, calls = 64, 200
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for range goroutines {
		wg.Go(func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			for range calls {
				if pid, e := call(unix.SYS_GETPID); e != 0 || pid != 1 {
					errs <- errors.Join(e, errors.New("getpid != 1"))
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
}

// Fresh OS threads make their first LKL calls at the same moment, round
// after round: each goroutine locks its thread and exits still locked, so the
// runtime ends the thread (LKL deletes its host task) and the next round
// starts on new ones. LKL makes a host task on a thread's first call by
// borrowing one shared task, and two threads doing that at once used to
// leave one of them asleep forever (gk_thread_enter in gk.c).
func TestFreshThreadsFirstCalls(t *testing.T) {
	const rounds, goroutines = 30, 16
	stop := pingPong(t, 4)
	defer stop()
	done := make(chan error, 1)
	go func() {
		for range rounds {
			var ready, wg sync.WaitGroup
			start := make(chan struct{})
			errs := make(chan error, goroutines)
			ready.Add(goroutines)
			for range goroutines {
				wg.Go(func() {
					runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
					ready.Done()
					<-start
					if pid, e := call(unix.SYS_GETPID); e != 0 || pid != 1 {
						errs <- fmt.Errorf("getpid = %d, %v; want 1", pid, e)
					}
				})
			}
			ready.Wait()
			close(start)
			wg.Wait()
			close(errs)
			if err := <-errs; err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(2 * time.Minute):
		t.Fatal("first calls on fresh threads have not returned for 2 minutes: LKL is deadlocked")
	}
}

// pingPong keeps LKL's scheduler busy while a test runs: n pairs of
// goroutines bounce a byte over two pipes, each wake making a task runnable.
// The returned function closes the pipes' write ends, so both sides read
// EOF, and waits for them.
func pingPong(t *testing.T, n int) (stop func()) {
	var wg sync.WaitGroup
	var ends []int32
	for range n {
		var ab, ba [2]int32
		mustCall(t, "pipe", unix.SYS_PIPE, uintptr(unsafe.Pointer(&ab)))
		mustCall(t, "pipe", unix.SYS_PIPE, uintptr(unsafe.Pointer(&ba)))
		bounce := func(in, out int32, first bool) {
			b := []byte{1}
			if first {
				call(unix.SYS_WRITE, uintptr(out), uintptr(unsafe.Pointer(&b[0])), 1)
			}
			for {
				n, e := call(unix.SYS_READ, uintptr(in), uintptr(unsafe.Pointer(&b[0])), 1)
				if e != 0 {
					t.Errorf("ping-pong read: %v", e)
				}
				if n != 1 {
					return // EOF: stopped
				}
				// EBADF once stop has closed out: the peer reads EOF.
				call(unix.SYS_WRITE, uintptr(out), uintptr(unsafe.Pointer(&b[0])), 1)
			}
		}
		wg.Go(func() { bounce(ba[0], ab[1], true) })
		wg.Go(func() { bounce(ab[0], ba[1], false) })
		ends = append(ends, ab[1], ba[1])
		t.Cleanup(func() {
			call(unix.SYS_CLOSE, uintptr(ab[0]))
			call(unix.SYS_CLOSE, uintptr(ba[0]))
		})
	}
	return func() {
		for _, fd := range ends {
			call(unix.SYS_CLOSE, uintptr(fd))
		}
		wg.Wait()
	}
}

// A read blocked in LKL parks only its own thread: other goroutines keep
// making calls, and the reader returns when data arrives.
func TestBlockingReadDoesNotStall(t *testing.T) {
	var fds [2]int32
	mustCall(t, "pipe", unix.SYS_PIPE, uintptr(unsafe.Pointer(&fds)))
	defer call(unix.SYS_CLOSE, uintptr(fds[0]))
	defer call(unix.SYS_CLOSE, uintptr(fds[1]))
	got := make(chan string, 1)
	go func() {
		buf := make([]byte, 16)
		n, e := call(unix.SYS_READ, uintptr(fds[0]), uintptr(unsafe.Pointer(&buf[0])), 16)
		if e != 0 {
			got <- e.Error()
			return
		}
		got <- string(buf[:n])
	}()
	for i := range 2000 {
		require.Equal(t, uintptr(1), mustCall(t, "getpid", unix.SYS_GETPID))
		if i%100 == 0 {
			writeFile(t, "/stall_test", []byte("still working"))
		}
	}
	select {
	case s := <-got:
		t.Fatalf("the reader returned %q before anything was written", s)
	default:
	}
	msg := []byte("wake")
	mustCall(t, "write", unix.SYS_WRITE, uintptr(fds[1]), uintptr(unsafe.Pointer(&msg[0])), 4)
	require.Equal(t, "wake", <-got)
}

func TestUnsupportedCalls(t *testing.T) {
	tests := []struct {
		name string
		trap uintptr
	}{
		{"number beyond every table", 100000},
		{"host-only call (arch_prctl)", unix.SYS_ARCH_PRCTL},
		{"fork", unix.SYS_FORK},
		{"execve", unix.SYS_EXECVE},
		{"exit_group", unix.SYS_EXIT_GROUP},
		{"reboot", unix.SYS_REBOOT},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, e := call(tc.trap)
			require.Equal(t, unix.ENOSYS, e)
			var err error = e
			require.ErrorIs(t, err, errors.ErrUnsupported)
		})
	}
	require.Equal(t, uintptr(1), mustCall(t, "getpid", unix.SYS_GETPID), "the kernel is still there")
}

// LKL has no MMU; the recipe makes pointers into the first page EFAULT, as
// on Linux, instead of a crash of the whole process.
func TestNullPointersAreEFAULT(t *testing.T) {
	var fds [2]int32
	mustCall(t, "pipe", unix.SYS_PIPE, uintptr(unsafe.Pointer(&fds)))
	defer call(unix.SYS_CLOSE, uintptr(fds[0]))
	defer call(unix.SYS_CLOSE, uintptr(fds[1]))
	msg := []byte("data")
	mustCall(t, "write", unix.SYS_WRITE, uintptr(fds[1]), uintptr(unsafe.Pointer(&msg[0])), 4)
	tests := []struct {
		name string
		trap uintptr
		args []uintptr
	}{
		{"read into NULL", unix.SYS_READ, []uintptr{uintptr(fds[0]), 0, 4}},
		{"write from NULL", unix.SYS_WRITE, []uintptr{uintptr(fds[1]), 0, 4}},
		{"open a NULL path", unix.SYS_OPEN, []uintptr{0, unix.O_RDONLY}},
		{"fstat into NULL", unix.SYS_FSTAT, []uintptr{uintptr(fds[0]), 0}},
		{"pipe2 into NULL", unix.SYS_PIPE2, []uintptr{0, 0}},
		{"uname into NULL", unix.SYS_UNAME, []uintptr{0}},
		{"nanosleep from a first-page address", unix.SYS_NANOSLEEP, []uintptr{8, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, e := call(tc.trap, tc.args...)
			require.Equal(t, unix.EFAULT, e)
		})
	}
	buf := make([]byte, 8)
	require.Equal(t, uintptr(4), mustCall(t, "read", unix.SYS_READ, uintptr(fds[0]), uintptr(unsafe.Pointer(&buf[0])), 8), "the data is still there")
}

func TestBadFDs(t *testing.T) {
	buf := make([]byte, 1)
	_, e := call(unix.SYS_READ, 999, uintptr(unsafe.Pointer(&buf[0])), 1)
	require.Equal(t, unix.EBADF, e)
	_, e = call(unix.SYS_CLOSE, ^uintptr(0))
	require.Equal(t, unix.EBADF, e)
	_, e = call(unix.SYS_EPOLL_CREATE, 0)
	require.Equal(t, unix.EINVAL, e, "epoll_create(0)")
}

func TestConsoleFDs(t *testing.T) {
	var st unix.Stat_t
	mustCall(t, "fstat", unix.SYS_FSTAT, 1, uintptr(unsafe.Pointer(&st)))
	require.Equal(t, uint32(unix.S_IFCHR), st.Mode&unix.S_IFMT, "a console fd is an LKL character device")
	buf := make([]byte, 1)
	_, e := call(unix.SYS_PREAD64, 1, uintptr(unsafe.Pointer(&buf[0])), 1, 0)
	require.Equal(t, unix.ESPIPE, e)
	d := mustCall(t, "dup", unix.SYS_DUP, 2)
	require.Greater(t, d, uintptr(2))
	mustCall(t, "close", unix.SYS_CLOSE, d)
	// dup2 onto itself checks and returns the fd, as on Linux.
	require.Equal(t, uintptr(2), mustCall(t, "dup2", unix.SYS_DUP2, 2, 2))
	_, e = call(unix.SYS_DUP2, 900, 900)
	require.Equal(t, unix.EBADF, e)

	// A console write is a host call made through the kernel's
	// Config.Host, so the Tracer TestMain put there sees it.
	d = mustCall(t, "dup", unix.SYS_DUP, 2)
	defer call(unix.SYS_CLOSE, d)
	require.Equal(t, uintptr(0), mustCall(t, "write", unix.SYS_WRITE, d, uintptr(unsafe.Pointer(&buf[0])), 0))
	hostCalls.Lock()
	defer hostCalls.Unlock()
	require.True(t, slices.ContainsFunc(hostCalls.calls, func(c sys.Call) bool {
		return c.Trap == unix.SYS_WRITE && c.Args[0] == 2 && c.Args[2] == 0
	}), "the console write reached the host outside Config.Host: %v", hostCalls.calls)
}

// The measurement in docs/design.md that lost data without //go:uintptrescapes,
// on LKL: pipes in LKL, stack buffers, stack growth during calls, GC loop.
func TestPointerSafetyOnLKL(t *testing.T) {
	kerneltest.PointerStress(t, kern, 1000)
}

// TestPathArguments checks how LKL copies a path argument in
// (getname → strncpy_from_user, a host strnlen + memcpy with
// third_party/lkl's CONFIG_GOKERNEL_FAST_GETNAME): the name ends at its
// first NUL whatever follows it, a name longer than the first copy
// (EMBEDDED_NAME_MAX, ~4 KiB less a header) is copied again whole, and
// one with no NUL within PATH_MAX bytes is ENAMETOOLONG.
func TestPathArguments(t *testing.T) {
	writeFile(t, "/path_args", []byte("P"))
	defer call(unix.SYS_UNLINK, uintptr(unsafe.Pointer(cstr(t, "/path_args"))))
	long := func(n int) string { // "/" + "./"... + "path_args", n bytes
		pad := n - len("/path_args")
		return "/" + strings.Repeat("./", pad/2) + strings.Repeat("/", pad%2) + "path_args"
	}
	tests := []struct {
		name string
		buf  []byte // passed as is: the test adds no NUL
		want unix.Errno
	}{
		{"plain", []byte("/path_args\x00"), 0},
		{"bytes after the NUL are ignored", []byte("/path_args\x00/nope\xff\xff"), 0},
		{"a NUL at the first byte", []byte("\x00/path_args\x00"), unix.ENOENT},
		{"4000 bytes (one copy)", []byte(long(4000) + "\x00"), 0},
		{"4095 bytes (copied twice)", []byte(long(unix.PathMax-1) + "\x00"), 0},
		{"4096 bytes, NUL at PATH_MAX", []byte(long(unix.PathMax) + "\x00"), unix.ENAMETOOLONG},
		{"no NUL within PATH_MAX", []byte(long(unix.PathMax+100) + "\x00"), unix.ENAMETOOLONG},
		{"a component of 256 bytes", []byte("/" + strings.Repeat("x", 256) + "\x00"), unix.ENAMETOOLONG},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fd, e := call(unix.SYS_OPEN, uintptr(unsafe.Pointer(&tc.buf[0])), unix.O_RDONLY)
			require.Equal(t, tc.want, e)
			if e != 0 {
				return
			}
			defer call(unix.SYS_CLOSE, fd)
			b := make([]byte, 4)
			require.Equal(t, uintptr(1), mustCall(t, "read", unix.SYS_READ, fd, uintptr(unsafe.Pointer(&b[0])), 4))
			require.Equal(t, byte('P'), b[0])
		})
	}
}

// TestClockIsHostTime checks LKL's wall clock and the times it gives a
// new inode: the host's date, not 1970 plus the host's uptime (LKL's
// clock before Boot set it). The bound is a day: a clock that was never
// set is decades off.
func TestClockIsHostTime(t *testing.T) {
	var ts unix.Timespec
	mustCall(t, "clock_gettime", unix.SYS_CLOCK_GETTIME, unix.CLOCK_REALTIME, uintptr(unsafe.Pointer(&ts)))
	require.WithinDuration(t, time.Now(), time.Unix(ts.Unix()), 24*time.Hour, "LKL's CLOCK_REALTIME")

	p := cstr(t, "/clock_test")
	fd := mustCall(t, "creat", unix.SYS_CREAT, uintptr(unsafe.Pointer(p)), 0o600)
	defer call(unix.SYS_UNLINK, uintptr(unsafe.Pointer(p)))
	mustCall(t, "close", unix.SYS_CLOSE, fd)
	st, e := stat(t, unix.SYS_STAT, "/clock_test")
	require.Zero(t, e)
	for name, ts := range map[string]unix.Timespec{"mtime": st.Mtim, "ctime": st.Ctim} {
		require.WithinDuration(t, time.Now(), time.Unix(ts.Unix()), 24*time.Hour, "a new file's %s", name)
	}
}
