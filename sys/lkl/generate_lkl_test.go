//go:build lkl

package lkl_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestGeneratedTablesAreCurrent reruns mkabi.go against the LKL headers
// this binary was built with and compares: the committed tables must be
// exactly what "go generate ./sys/lkl" writes.
func TestGeneratedTablesAreCurrent(t *testing.T) {
	dir := t.TempDir()
	out, err := exec.Command("go", "run", "mkabi.go", "-o", dir).CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, name := range []string{"zsysnum_lkl_amd64.go", "ztypes_lkl_amd64.go"} {
		want, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		got, err := os.ReadFile(name)
		require.NoError(t, err)
		require.Equal(t, string(want), string(got), "%s is stale: run go generate ./sys/lkl", name)
	}
}
