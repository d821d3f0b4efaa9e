package sys_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/sys"
)

func TestRegistry(t *testing.T) {
	require.Contains(t, sys.Kernels(), "host")

	k, err := sys.Open("host", "")
	require.NoError(t, err)
	require.Equal(t, "host", k.Name())

	_, err = sys.Open("nosuch", "")
	require.ErrorContains(t, err, `no kernel named "nosuch"`)
	require.ErrorContains(t, err, "host")

	_, err = sys.Open("host", "/tmp/disk.json")
	require.ErrorContains(t, err, "the host kernel takes no configuration")

	require.Panics(t, func() { sys.Register("host", func(string) (sys.Kernel, error) { return sys.Host(), nil }) })
	require.Panics(t, func() { sys.Register("nil-factory", nil) })
}

// helperEnv marks a run of this test binary as a child started by runChild.
const helperEnv = "GOKERNEL_SYS_TEST_CHILD"

// TestChild is the body of the child processes of TestSelection: it writes a
// line through the default kernel and exits. It does nothing in a normal run.
func TestChild(t *testing.T) {
	if os.Getenv(helperEnv) == "" {
		t.Skip("runs only as a child of TestSelection")
	}
	msg := []byte("child says hi\n")
	sys.Syscall(unix.SYS_WRITE, 1, uintptr(unsafe.Pointer(&msg[0])), uintptr(len(msg)), 0, 0, 0)
	os.Exit(0)
}

func runChild(t *testing.T, env ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestChild$")
	cmd.Env = append(os.Environ(), append([]string{helperEnv + "=1"}, env...)...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return out.String(), errb.String(), code
}

func TestSelection(t *testing.T) {
	traceFile := filepath.Join(t.TempDir(), "trace.txt")
	tests := []struct {
		name       string
		env        []string
		code       int
		stdout     string // substring
		stderr     string // substring
		traceLines string // substring of the trace file
	}{
		{name: "unset is host", env: []string{"GOKERNEL="}, stdout: "child says hi"},
		{name: "host", env: []string{"GOKERNEL=host"}, stdout: "child says hi"},
		{name: "unknown name", env: []string{"GOKERNEL=plan9"}, code: 2, stderr: `no kernel named "plan9"`},
		{name: "config without kernel is refused", env: []string{"GOKERNEL=", "GOKERNEL_CONFIG=disk.json"}, code: 2, stderr: "the host kernel takes no configuration"},
		{name: "trace to stderr", env: []string{"GOKERNEL_TRACE=1"}, stdout: "child says hi", stderr: "[host] write(0x1, 0x"},
		{name: "bad trace value", env: []string{"GOKERNEL_TRACE=yes"}, code: 2, stderr: "want 1 or 0"},
		{name: "trace to file", env: []string{"GOKERNEL_TRACE_FILE=" + traceFile}, stdout: "child says hi", traceLines: ", 0xe) = 14 <"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := runChild(t, tc.env...)
			require.Equal(t, tc.code, code, "stderr: %s", stderr)
			require.Contains(t, stdout, tc.stdout)
			require.Contains(t, stderr, tc.stderr)
			if tc.code != 0 {
				require.NotContains(t, stdout, "child says hi", "a kernel that failed to start must not answer")
			}
			if tc.traceLines != "" {
				b, err := os.ReadFile(traceFile)
				require.NoError(t, err)
				require.Contains(t, string(b), tc.traceLines)
			}
		})
	}
}
