//go:build lkl

package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gokernel/gokernel/internal/imagetest"
)

// A mountProc is demo mount running in a child process (the test binary
// as demo, checking for leaked goroutines and host fds when it ends).
type mountProc struct {
	cmd   *exec.Cmd
	dir   string
	lines chan string // stdout and stderr, line by line
	done  chan struct{}
	code  int
}

// startMount starts demo mount with args (the mount point last) and
// waits until it says it has mounted. The test's cleanup kills it if it
// still runs and detaches a mount it left, so a failing test leaves none.
func startMount(t *testing.T, args ...string) *mountProc {
	t.Helper()
	p := &mountProc{dir: args[len(args)-1], lines: make(chan string, 64), done: make(chan struct{})}
	p.cmd = exec.Command(os.Args[0], append([]string{"-test.run=^$", "--", "mount"}, args...)...)
	p.cmd.Env = append(os.Environ(), "DEMO_AS_MAIN=1", "DEMO_CHECK_LEAKS=1", "GOKERNEL=", "GOKERNEL_TRACE=")
	stdout, err := p.cmd.StdoutPipe()
	require.NoError(t, err)
	stderr, err := p.cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, p.cmd.Start())
	var readers sync.WaitGroup
	for _, r := range []io.Reader{stdout, stderr} {
		readers.Go(func() {
			sc := bufio.NewScanner(r)
			for sc.Scan() {
				p.lines <- sc.Text()
			}
		})
	}
	go func() {
		readers.Wait()
		close(p.lines)
		p.cmd.Wait()
		p.code = p.cmd.ProcessState.ExitCode()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			for range p.lines {
			}
			<-p.done
		}
		if imagetest.Mounted(p.dir) {
			exec.Command("umount", "-l", p.dir).Run()
			t.Errorf("%s was left mounted", p.dir)
		}
	})
	out := p.expect(t, "mounted ")
	require.True(t, imagetest.Mounted(p.dir), "%s is in /proc/self/mountinfo (%s)", p.dir, out)
	return p
}

// expect reads the child's output until a line contains want, and returns
// what it read.
func (p *mountProc) expect(t *testing.T, want string) string {
	t.Helper()
	var seen []string
	timeout := time.After(time.Minute)
	for {
		select {
		case line, ok := <-p.lines:
			require.True(t, ok, "demo mount ended before printing %q: %s", want, strings.Join(seen, "\n"))
			seen = append(seen, line)
			if strings.Contains(line, want) {
				return strings.Join(seen, "\n")
			}
		case <-timeout:
			t.Fatalf("demo mount did not print %q within a minute: %s", want, strings.Join(seen, "\n"))
		}
	}
}

// wait waits for the child to exit and returns its exit status and the
// rest of its output.
func (p *mountProc) wait(t *testing.T) (int, string) {
	t.Helper()
	var rest []string
	timeout := time.After(time.Minute)
	for {
		select {
		case line, ok := <-p.lines:
			if ok {
				rest = append(rest, line)
				continue
			}
			select {
			case <-p.done:
			case <-timeout:
				t.Fatalf("demo mount did not exit: %s", strings.Join(rest, "\n"))
			}
			return p.code, strings.Join(rest, "\n")
		case <-timeout:
			t.Fatalf("demo mount did not exit: %s", strings.Join(rest, "\n"))
		}
	}
}

// shell runs a bash script and returns its output, failing the test if it
// fails.
func shell(t *testing.T, script string) string {
	t.Helper()
	out, err := exec.Command("bash", "-euo", "pipefail", "-c", script).CombinedOutput()
	require.NoError(t, err, "%s\n%s", script, out)
	return string(out)
}

func sha256File(t *testing.T, path string) string {
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	h := sha256.New()
	_, err = io.Copy(h, f)
	require.NoError(t, err)
	return fmt.Sprintf("%x", h.Sum(nil))
}

var mountTree = imagetest.Tree{"hello.txt": "hello from the image\n", "dir/sub/deep.txt": "deep\n"}

// TestMountCommand: demo mount serves an image read-write until SIGINT,
// then flushes it (e2fsck finds it clean, debugfs finds what was
// written); an outside fusermount3 -u ends it the same way.
func TestMountCommand(t *testing.T) {
	img := imagetest.Build(t, "ext4", mountTree)
	mnt := t.TempDir()

	p := startMount(t, img, mnt)
	require.Equal(t, "hello from the image\n", shell(t, "cat "+mnt+"/hello.txt"))
	require.Contains(t, shell(t, "ls -lR "+mnt), "deep.txt")
	shell(t, "echo written > "+mnt+"/new.txt && mkdir "+mnt+"/newdir && cp "+mnt+"/hello.txt "+mnt+"/newdir/")
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGINT))
	code, out := p.wait(t)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "unmounted")
	require.False(t, imagetest.Mounted(mnt))
	imagetest.Run(t, "e2fsck", "-fn", img)
	require.Contains(t, imagetest.Run(t, "debugfs", "-R", "cat /new.txt", img), "\nwritten\n")

	p = startMount(t, "-o", "rw,type=ext4,opts=data=journal", img, mnt)
	require.Equal(t, "written\n", shell(t, "cat "+mnt+"/new.txt"))
	shell(t, "fusermount3 -u "+mnt)
	code, out = p.wait(t)
	require.Equal(t, 0, code, out)
	require.False(t, imagetest.Mounted(mnt))
	imagetest.Run(t, "e2fsck", "-fn", img)
}

// TestMountReadOnly: with -o ro every read works, every write fails with
// EROFS, and the image file is byte for byte what it was.
func TestMountReadOnly(t *testing.T) {
	img := imagetest.Build(t, "ext4", mountTree)
	mnt := t.TempDir()
	before := sha256File(t, img)
	p := startMount(t, "-o", "ro", img, mnt)
	// grep reads all of tar -tf's list: with grep -q, a tar still writing
	// when grep has quit gets SIGPIPE, which pipefail makes the script's
	// status (141; it failed a CI run).
	shell(t, "find "+mnt+" -type f -exec cat {} + > /dev/null && tar -C "+mnt+" -cf - . | tar -tf - | grep deep.txt > /dev/null")
	out, err := exec.Command("bash", "-c", "echo x > "+mnt+"/nope").CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), "Read-only file system")
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	code, rest := p.wait(t)
	require.Equal(t, 0, code, rest)
	require.Equal(t, before, sha256File(t, img), "the image is unchanged")
}

// TestMountKilled: SIGKILL of the server leaves an image that e2fsck -fy
// repairs, with every file fsync'ed before the kill intact.
func TestMountKilled(t *testing.T) {
	img := imagetest.Build(t, "ext4", mountTree)
	mnt := t.TempDir()
	p := startMount(t, img, mnt)
	shell(t, `cd `+mnt+` && for i in $(seq 20); do head -c 100000 /dev/urandom > f$i; done && sync f*  && sync -f . && sha256sum f* > ../sums.txt && for i in $(seq 20); do head -c 50000 /dev/urandom > g$i; done`)
	require.NoError(t, p.cmd.Process.Kill())
	<-p.done
	exec.Command("umount", "-l", mnt).Run()
	out, err := exec.Command("e2fsck", "-fy", img).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() > 1 {
		require.NoError(t, err, "e2fsck -fy: %s", out)
	}
	imagetest.Run(t, "e2fsck", "-fn", img)
	dump := t.TempDir()
	for line := range strings.Lines(shell(t, "cat "+filepath.Dir(mnt)+"/sums.txt")) {
		sum, name, _ := strings.Cut(strings.TrimSpace(line), "  ")
		imagetest.Run(t, "debugfs", "-R", "dump /"+name+" "+filepath.Join(dump, name), img)
		require.Equal(t, sum, sha256File(t, filepath.Join(dump, name)), name)
	}
}

// TestMountErrors: each failure says what is wrong, exits non-zero and
// leaves nothing mounted.
func TestMountErrors(t *testing.T) {
	img := imagetest.Build(t, "ext4", mountTree)
	corrupt := filepath.Join(t.TempDir(), "corrupt.img")
	require.NoError(t, os.WriteFile(corrupt, []byte(strings.Repeat("not a file system ", 100000)), 0o644))
	mnt := t.TempDir()
	busy := t.TempDir()
	first := startMount(t, "-o", "ro", img, busy)

	tests := []struct {
		name string
		args []string
		dir  string
		want string
	}{
		{"missing mount point", []string{img, filepath.Join(mnt, "nope")}, filepath.Join(mnt, "nope"), "no such file or directory"},
		{"mount point in use", []string{"-o", "ro", img, busy}, "", "is in use"},
		{"corrupt image", []string{corrupt, mnt}, mnt, "no ext2/3/4, xfs, btrfs or vfat file system found"},
		{"missing image", []string{filepath.Join(mnt, "nope.img"), mnt}, mnt, "no such file or directory"},
		{"bad mount options", []string{"-o", "opts=nosuchoption", img, mnt}, mnt, "refuses these mount options"},
		{"unknown -o option", []string{"-o", "bogus", img, mnt}, mnt, "unknown option"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := demo(t, nil, append([]string{"mount"}, tc.args...)...)
			require.NotEqual(t, 0, code)
			require.Contains(t, stderr, tc.want)
			if tc.dir != "" {
				require.False(t, imagetest.Mounted(tc.dir), "%s is not mounted", tc.dir)
			}
		})
	}
	require.True(t, imagetest.Mounted(busy), "the first mount is still there")
	require.NoError(t, first.cmd.Process.Signal(syscall.SIGINT))
	code, out := first.wait(t)
	require.Equal(t, 0, code, out)
}

// TestMountForced: while a program keeps a file open, SIGINT cannot
// unmount (the mount is busy) and the server keeps serving; a second
// SIGINT detaches the mount and exits with status 1.
func TestMountForced(t *testing.T) {
	img := imagetest.Build(t, "ext4", mountTree)
	mnt := t.TempDir()
	p := startMount(t, img, mnt)
	holder := exec.Command("sleep", "600")
	f, err := os.Open(filepath.Join(mnt, "hello.txt"))
	require.NoError(t, err)
	holder.Stdin = f
	require.NoError(t, holder.Start())
	f.Close()
	t.Cleanup(func() { holder.Process.Kill(); holder.Wait() })

	require.NoError(t, p.cmd.Process.Signal(syscall.SIGINT))
	p.expect(t, "still serving")
	require.Equal(t, "hello from the image\n", shell(t, "cat "+mnt+"/hello.txt"), "still served")
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGINT))
	code, out := p.wait(t)
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "detached")
	require.False(t, imagetest.Mounted(mnt))
}

// TestMountAsUser: a user other than root mounts with fusermount3, and
// without it in $PATH gets an error that names what is missing. The test
// binary, the image and the mount point are copied or made where nobody
// (uid 65534) can reach them.
func TestMountAsUser(t *testing.T) {
	_, err := exec.LookPath("setpriv")
	require.NoError(t, err, "setpriv (util-linux) runs the child as nobody")
	dir, err := os.MkdirTemp("", "mount-as-user-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	bin := filepath.Join(dir, "demo.test")
	shell(t, "cp "+os.Args[0]+" "+bin+" && chmod 0755 "+bin)
	img := filepath.Join(dir, "disk.img")
	shell(t, "cp "+imagetest.Build(t, "ext4", mountTree)+" "+img+" && chown 65534:65534 "+img)
	imagetest.Run(t, "debugfs", "-w", "-R", "set_inode_field /dir uid 65534", img) // nobody's directory
	mnt := filepath.Join(dir, "mnt")
	require.NoError(t, os.Mkdir(mnt, 0o755))
	require.NoError(t, os.Chown(mnt, 65534, 65534))
	asNobody := func(path string, args ...string) *exec.Cmd {
		cmd := exec.Command("setpriv", append([]string{"--reuid=65534", "--regid=65534", "--clear-groups", "--", bin, "-test.run=^$", "--", "mount"}, args...)...)
		cmd.Env = []string{"DEMO_AS_MAIN=1", "PATH=" + path, "HOME=" + dir}
		return cmd
	}

	out, err := asNobody("/nonexistent", "-o", "ro", img, mnt).CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), "needs fusermount3 (Debian package fuse3)")
	require.False(t, imagetest.Mounted(mnt))

	cmd := asNobody("/usr/bin:/bin", img, mnt)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if imagetest.Mounted(mnt) {
			exec.Command("umount", "-l", mnt).Run()
			t.Errorf("%s was left mounted", mnt)
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err, "demo mount as nobody: %s", stderr.String())
	require.Contains(t, line, "mounted ")
	require.Equal(t, "hello from the image\n", shell(t, "setpriv --reuid=65534 --regid=65534 --clear-groups cat "+mnt+"/hello.txt"))
	nobody := "setpriv --reuid=65534 --regid=65534 --clear-groups -- bash -c "
	shell(t, nobody+"'! echo no > "+mnt+"/root-owned.txt'") // the host kernel checks the image's modes
	shell(t, nobody+"'echo mine > "+mnt+"/dir/mine.txt && stat -c %u:%g "+mnt+"/dir/mine.txt | grep -qx 65534:65534'")
	shell(t, "setpriv --reuid=65534 --regid=65534 --clear-groups fusermount3 -u "+mnt)
	go io.Copy(io.Discard, stdout)
	require.NoError(t, cmd.Wait(), stderr.String())
	require.False(t, imagetest.Mounted(mnt))
	imagetest.Run(t, "e2fsck", "-fn", img)
}

// demoMount runs demo mount (the test binary as demo) with args to the
// end, for at most two minutes, and returns its exit status and output.
func demoMount(t *testing.T, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], append([]string{"-test.run=^$", "--", "mount"}, args...)...)
	cmd.Env = append(os.Environ(), "DEMO_AS_MAIN=1", "DEMO_CHECK_LEAKS=1", "GOKERNEL=", "GOKERNEL_TRACE=")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("demo mount %v: %v", args, err)
	}
	return cmd.ProcessState.ExitCode(), string(out)
}

// TestMountBackground: demo mount --background returns once the mount is
// ready (its output captured to the end, so the daemon holds none of it),
// the daemon serves it until fusermount3 -u and then flushes the image;
// an error before the mount is ready is the starter's own output and
// exit status, with nothing left mounted or running.
func TestMountBackground(t *testing.T) {
	img := imagetest.Build(t, "ext4", mountTree)
	mnt := t.TempDir()
	t.Cleanup(func() {
		if imagetest.Mounted(mnt) {
			exec.Command("umount", "-l", mnt).Run()
			t.Errorf("%s was left mounted", mnt)
		}
	})
	code, out := demoMount(t, "--background", img, mnt)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "mounted "+img)
	m := regexp.MustCompile(`in the background as pid (\d+)`).FindStringSubmatch(out)
	require.NotNil(t, m, out)
	pid, _ := strconv.Atoi(m[1])
	require.True(t, imagetest.Mounted(mnt), "mounted when demo mount returns")
	require.Equal(t, "hello from the image\n", shell(t, "cat "+mnt+"/hello.txt"))
	shell(t, "echo background > "+mnt+"/bg.txt")
	shell(t, "fusermount3 -u "+mnt)
	// The daemon is not our child: wait for its pid to go.
	deadline := time.Now().Add(time.Minute)
	for syscall.Kill(pid, 0) == nil {
		require.True(t, time.Now().Before(deadline), "the daemon (pid %d) still runs a minute after the unmount", pid)
		time.Sleep(50 * time.Millisecond)
	}
	require.False(t, imagetest.Mounted(mnt))
	imagetest.Run(t, "e2fsck", "-fn", img)
	require.Contains(t, imagetest.Run(t, "debugfs", "-R", "cat /bg.txt", img), "background")

	code, out = demoMount(t, "--background", filepath.Join(t.TempDir(), "missing.img"), mnt)
	require.NotEqual(t, 0, code, out)
	require.Contains(t, out, "missing.img")
	require.NotContains(t, out, "in the background")
	code, out = demoMount(t, "--background", img, filepath.Join(mnt, "nodir"))
	require.NotEqual(t, 0, code, out)
	require.Contains(t, out, "mount point")
	require.False(t, imagetest.Mounted(mnt))
}
