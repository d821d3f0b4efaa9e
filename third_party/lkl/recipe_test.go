package lkl

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"
)

// The Go hash and the Makefile's must agree: both name the same cache entry.
func TestHashMatchesMakefile(t *testing.T) {
	r, err := Load()
	require.NoError(t, err)
	out, err := exec.Command("make", "-s", "--no-print-directory", "print-hash").Output()
	require.NoError(t, err)
	require.Equal(t, strings.TrimSpace(string(out)), r.Hash)
	require.Equal(t, "1.0.3", r.Version)
	require.Equal(t, []string{"Makefile", "build.sh", "fixes.sh", "gokernel.config"}, r.Files)
}

// The embedded files are the files of this directory.
func TestEmbeddedFilesAreCurrent(t *testing.T) {
	r, err := Load()
	require.NoError(t, err)
	dir := t.TempDir()
	require.NoError(t, r.Extract(dir))
	for _, name := range r.Files {
		want, err := os.ReadFile(name)
		require.NoError(t, err)
		got, err := os.ReadFile(dir + "/" + name)
		require.NoError(t, err)
		require.Equal(t, string(want), string(got), name)
	}
	fi, err := os.Stat(dir + "/build.sh")
	require.NoError(t, err)
	require.NotZero(t, fi.Mode()&0o100, "build.sh must be executable")
}

func TestLoadErrors(t *testing.T) {
	_, err := load(fstest.MapFS{})
	require.ErrorContains(t, err, "Makefile")
	_, err = load(fstest.MapFS{"Makefile": {Data: []byte("all:\n")}})
	require.ErrorContains(t, err, "no LKL_VERSION or RECIPE")
	_, err = load(fstest.MapFS{"Makefile": {Data: []byte("LKL_VERSION := 1\nRECIPE := Makefile gone.sh\n")}})
	require.ErrorContains(t, err, "gone.sh is in the Makefile's RECIPE but not embedded")
}

func TestHeaders(t *testing.T) {
	r, err := Load()
	require.NoError(t, err)
	require.Contains(t, string(r.InstalledHeader()), "#define "+r.Macro()+" 1\n")
	require.Contains(t, string(r.WantHeader()), "#ifndef "+r.Macro()+"\n")
	require.Contains(t, string(r.WantHeader()), InstallCommand)
}
