package sys_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/sys"
)

// TestGeneratedTablesAreCurrent reruns the generator and compares: the
// committed tables must be exactly what "go generate ./sys" writes.
func TestGeneratedTablesAreCurrent(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command("go", "run", "mksysname.go", "-o", dir)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, arch := range []string{"amd64", "arm64"} {
		name := "zsysname_linux_" + arch + ".go"
		want, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		got, err := os.ReadFile(name)
		require.NoError(t, err)
		require.Equal(t, string(want), string(got), "%s is stale: run go generate ./sys", name)
	}
}

func TestSyscallName(t *testing.T) {
	require.Equal(t, "openat", sys.SyscallName(unix.SYS_OPENAT))
	require.Equal(t, "epoll_pwait", sys.SyscallName(unix.SYS_EPOLL_PWAIT))
	require.Equal(t, "syscall_100000", sys.SyscallName(100000))
}
