package libgo_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestGeneratedFuncsAreCurrent reruns mkfuncs.go and compares: every
// exported Libc method has its package-level function, and nothing else.
func TestGeneratedFuncsAreCurrent(t *testing.T) {
	dir := t.TempDir()
	out, err := exec.Command("go", "run", "mkfuncs.go", "-o", dir).CombinedOutput()
	require.NoError(t, err, "%s", out)
	want, err := os.ReadFile(filepath.Join(dir, "zfuncs.go"))
	require.NoError(t, err)
	got, err := os.ReadFile("zfuncs.go")
	require.NoError(t, err)
	require.Equal(t, string(want), string(got), "zfuncs.go is stale: run go generate ./libgo")
}
