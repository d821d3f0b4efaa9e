package supervise

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/libgo"
	"github.com/gokernel/gokernel/sys"
)

// Single files of the other kernel (Options.Files: LKL's
// /etc/resolv.conf) without a round trip per path call. A seccomp filter
// cannot compare strings, so with any path of the other kernel's every
// open, stat, access… of the program used to reach the supervisor, only
// to be answered "the host's" (FLAG_CONTINUE) nearly always: a static
// file server paid one round trip a request for it. When no directory is
// the other kernel's (Options.Dirs is empty), the supervisor copies each
// such file into a memfd, and the child, before it installs its filter,
// enters a mount namespace of its own (private: nothing propagates back
// to the host's) and bind-mounts each copy, read-only, over its path. The
// filter then sends no path calls at all. Where the child may not (no
// CAP_SYS_ADMIN: unshare is EPERM; the path does not exist on the host),
// it falls back to sending the path calls, as before.
//
// What differs from the path calls: the program reads a copy made when it
// started, and writing it is EROFS (the other kernel's file was writable).

// bindEnv, in the child's environment, lists "COPY<tab>PATH" pairs, one
// per line: the host copies and the paths they go over. Child removes it.
const bindEnv = "GOKERNEL_SUPERVISE_BIND"

// maxBindFile is the largest file copied; a larger one is served through
// the path calls.
const maxBindFile = 1 << 20

// bindCopies copies each of the other kernel's files into a new file of
// the host's temporary directory, for the child to bind, and returns
// their paths (none if one cannot be copied: the path calls serve them
// all). The caller removes them once the child has bound them.
func (s *supervisor) bindCopies() []string {
	if len(s.dirs) > 0 || len(s.files) == 0 {
		return nil
	}
	other := s.other
	var out []string
	for _, name := range s.files {
		data, err := readSmall(other, name)
		if err == nil && strings.ContainsAny(name, "\t\n") {
			err = errors.New("a tab or newline in the path")
		}
		// A file of a mounted file system, bound by its path in the
		// child's namespace: neither a memfd (its internal mount is in no
		// namespace) nor an fd of this namespace's (/proc/self/fd/N: a
		// mount of another namespace) can be bind-mounted there (EINVAL).
		var f *os.File
		if err == nil {
			f, err = os.CreateTemp("", "supervise-bind-*")
		}
		if err == nil {
			out = append(out, f.Name())
			_, err = f.Write(data)
			err = errors.Join(err, f.Close())
		}
		if err != nil {
			for _, p := range out {
				os.Remove(p)
			}
			return nil
		}
	}
	return out
}

// readSmall reads the file name on the kernel of l, if it is a regular
// file of at most maxBindFile bytes.
func readSmall(l *libgo.Libc, name string) ([]byte, error) {
	fd, err := l.Open(name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer l.Close(fd)
	var st unix.Stat_t
	if err := l.Fstat(fd, &st); err != nil {
		return nil, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Size > maxBindFile {
		return nil, errors.New("not a small regular file")
	}
	buf := make([]byte, 0, st.Size+1)
	for len(buf) <= maxBindFile {
		n, err := l.Read(fd, buf[len(buf):cap(buf)])
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return buf, nil
		}
		buf = buf[:len(buf)+n]
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
	}
	return nil, errors.New("file grew past the limit")
}

// bindEnvValue is bindEnv's value: each copy and the path it goes over.
func bindEnvValue(copies, files []string) string {
	var b strings.Builder
	for i, name := range files {
		fmt.Fprintf(&b, "%s\t%s\n", copies[i], name)
	}
	return b.String()
}

// bindFiles runs in the child, on the thread that will execute the
// program, before its filter: it enters a private mount namespace and
// bind-mounts each copy of bindEnv over its path, read-only. It reports
// whether all are in place.
func bindFiles(v string) bool {
	var pairs [][2]string
	for _, line := range strings.Split(strings.TrimSpace(v), "\n") {
		src, target, ok := strings.Cut(line, "\t")
		if !ok {
			return false
		}
		pairs = append(pairs, [2]string{src, target})
	}
	if len(pairs) == 0 {
		return false
	}
	if _, _, e := sys.SyscallOn(sys.Host(), unix.SYS_UNSHARE, unix.CLONE_NEWNS, 0, 0, 0, 0, 0); e != 0 {
		return false
	}
	host := libgo.New(sys.Host())
	if host.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, "") != nil {
		return false
	}
	for _, p := range pairs {
		if host.Mount(p[0], p[1], "", unix.MS_BIND, "") != nil || host.Mount("", p[1], "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, "") != nil {
			return false
		}
	}
	return true
}
