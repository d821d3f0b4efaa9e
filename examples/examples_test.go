package examples_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gokernel/gokernel/internal/imagetest"
	recipe "github.com/gokernel/gokernel/third_party/lkl"
)

// withLKL is true in a test binary built with -tags lkl (examples_lkl_test.go):
// the examples are then built with the tag too and also run on LKL.
var withLKL bool

// tree is what fileserver serves, from a host directory or an ext4 image.
var tree = imagetest.Tree{"docs/hello.txt": "hello from a file\n", "docs/other/": ""}

// run starts bin with args and extra environment (GOKERNEL* and the go
// command's cgo settings removed from the inherited one) and returns its
// stdout, stderr, exit status and pid.
func run(t *testing.T, env []string, dir, bin string, args ...string) (stdout, stderr string, code, pid int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(cleanEnv(), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("%s: %v", bin, err)
	}
	return o.String(), e.String(), cmd.ProcessState.ExitCode(), cmd.ProcessState.Pid()
}

// cleanEnv is the environment without the kernel selection and without
// CGO_CFLAGS/CGO_LDFLAGS (make test exports them; a dependent module's
// build must get them from go env, where gokernel-lkl install puts them).
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOKERNEL") && !strings.HasPrefix(kv, "CGO_CFLAGS=") && !strings.HasPrefix(kv, "CGO_LDFLAGS=") {
			env = append(env, kv)
		}
	}
	return env
}

// goCmd runs the go command in dir with extra environment and fails the
// test with its output if it fails.
func goCmd(t *testing.T, env []string, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go %s:\n%s", strings.Join(args, " "), out)
	return string(out)
}

// lklConfig writes a GOKERNEL_CONFIG that mounts an ext4 image of tree,
// read-only, at /mnt/disk, and returns its path.
func lklConfig(t *testing.T) string {
	img := imagetest.Build(t, "ext4", tree)
	cfg, err := json.Marshal(map[string]any{
		"disks": []map[string]any{{"path": img, "fstype": "ext4", "readonly": true, "mountpoint": "/mnt/disk"}},
	})
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "lkl.json")
	require.NoError(t, os.WriteFile(path, cfg, 0o644))
	return path
}

// checkFileserver runs a fileserver binary on the host, on LKL if it has
// LKL (serving the same files from an ext4 image), and, if it has not,
// checks that it refuses GOKERNEL=lkl saying what to run.
func checkFileserver(t *testing.T, bin string, lkl bool) {
	host := t.TempDir()
	tree.Write(t, host)
	out, errOut, code, _ := run(t, nil, "", bin, host, "docs/hello.txt")
	require.Equal(t, 0, code, errOut)
	require.Equal(t, tree["docs/hello.txt"], out)

	_, errOut, code, _ = run(t, nil, "", bin, host, "docs/missing.txt")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "404 Not Found")

	if !lkl {
		_, errOut, code, _ = run(t, []string{"GOKERNEL=lkl"}, "", bin, host, "docs/hello.txt")
		require.Equal(t, 1, code)
		require.Contains(t, errOut, `kernel "lkl" is not in this binary`)
		require.Contains(t, errOut, recipe.InstallCommand)
		return
	}
	out, errOut, code, _ = run(t, []string{"GOKERNEL=lkl", "GOKERNEL_CONFIG=" + lklConfig(t)}, "", bin, "/mnt/disk", "docs/hello.txt")
	require.Equal(t, 0, code, errOut)
	require.Equal(t, tree["docs/hello.txt"], out)
	// The host directory is not what LKL sees.
	_, errOut, code, _ = run(t, []string{"GOKERNEL=lkl"}, "", bin, host, "docs/hello.txt")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "404 Not Found")
}

// TestExamples builds the three examples as this test binary was built
// (with -tags lkl or not) and runs each on every kernel that gives it.
func TestExamples(t *testing.T) {
	bin := t.TempDir()
	args := []string{"build", "-o", bin + "/"}
	if withLKL {
		args = append(args, "-tags", "lkl")
	}
	goCmd(t, nil, ".", append(args, "./hello", "./retarget", "./fileserver")...)

	t.Run("hello", func(t *testing.T) {
		out, errOut, code, pid := run(t, nil, "", filepath.Join(bin, "hello"))
		require.Equal(t, 0, code, errOut)
		require.Equal(t, "hello from pid "+strconv.Itoa(pid)+"\n", out)
		if withLKL {
			out, errOut, code, _ = run(t, []string{"GOKERNEL=lkl"}, "", filepath.Join(bin, "hello"))
			require.Equal(t, 0, code, errOut)
			require.Equal(t, "hello from pid 1\n", out)
		}
	})
	t.Run("retarget", func(t *testing.T) {
		out, errOut, code, _ := run(t, nil, "", filepath.Join(bin, "retarget"))
		require.Equal(t, 0, code, errOut)
		require.Regexp(t, `^kernel host: Linux \S+\n$`, out)
		out, errOut, code, _ = run(t, []string{"GOKERNEL=lkl"}, "", filepath.Join(bin, "retarget"))
		if withLKL {
			require.Equal(t, 0, code, errOut)
			require.Equal(t, "kernel lkl: Linux 4.9.0\n", out)
		} else {
			require.Equal(t, 2, code)
			require.Contains(t, errOut, `kernel "lkl" is not in this binary`)
		}
		_, errOut, code, _ = run(t, []string{"GOKERNEL=plan9"}, "", filepath.Join(bin, "retarget"))
		require.Equal(t, 2, code)
		require.Contains(t, errOut, `plan9`)
	})
	t.Run("fileserver", func(t *testing.T) {
		checkFileserver(t, filepath.Join(bin, "fileserver"), withLKL)
	})
}
