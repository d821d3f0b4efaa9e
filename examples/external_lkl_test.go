//go:build lkl

package examples_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	recipe "github.com/gokernel/gokernel/third_party/lkl"
)

// TestDependentModule does what the README tells a new user to do, in a
// module of its own outside this repository: depend on gokernel (here
// through a replace directive naming this checkout), run gokernel-lkl
// install, which builds or reuses LKL and writes the cgo flags with go env
// -w (into a go env file of the test's own, not the user's), and build
// fileserver, copied unchanged from examples/fileserver. The -tags lkl build
// must serve a file from an ext4 image over LKL's loopback; the build
// without the tag must run on the host and refuse GOKERNEL=lkl.
func TestDependentModule(t *testing.T) {
	repo, err := filepath.Abs("..")
	require.NoError(t, err)
	mod := t.TempDir()
	require.False(t, strings.HasPrefix(mod, repo+"/"), "the scratch module must be outside the repository")

	// The go command as a user's: no cgo flags in the environment (go env
	// only), its own go env file, modules resolved as needed from the
	// shared module cache and the proxy.
	env := []string{"GOENV=" + filepath.Join(mod, "go.env"), "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local", "CGO_ENABLED=1"}
	goIn := func(args ...string) string {
		t.Helper()
		return goCmd(t, env, mod, args...)
	}
	unsetCgoFlags(t)

	goIn("mod", "init", "example.com/ext")
	goIn("mod", "edit", "-require=github.com/gokernel/gokernel@v0.0.0", "-replace=github.com/gokernel/gokernel="+repo)
	// gokernel's go.sum vouches for its dependencies; the proxy is
	// reachable, the checksum database may not be.
	sum, err := os.ReadFile(filepath.Join(repo, "go.sum"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(mod, "go.sum"), sum, 0o644))
	src, err := os.ReadFile(filepath.Join(repo, "examples", "fileserver", "main.go"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(mod, "main.go"), src, 0o644))

	// Before install, -tags lkl stops at gk.h's message, and env only
	// prints.
	build := exec.Command("go", "build", "-tags", "lkl", "-o", "fileserver-lkl", ".")
	build.Dir, build.Env = mod, append(os.Environ(), env...)
	out, err := build.CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), "gokernel: LKL is not installed for cgo")
	require.Contains(t, string(out), recipe.InstallCommand)
	cmd := []string{"run", "github.com/gokernel/gokernel/cmd/gokernel-lkl"}
	require.Contains(t, goIn(append(cmd, "env")...), "export CGO_CFLAGS=")
	require.NotContains(t, goIn("env", "CGO_CFLAGS"), "gokernel")

	// The documented steps.
	goIn(append(cmd, "install")...)
	cflags := goIn("env", "CGO_CFLAGS")
	require.Contains(t, cflags, "-O2 -g -I")
	require.Contains(t, cflags, "/gokernel/lkl/"+mustRecipe(t).Hash+"/include")
	require.Contains(t, goIn(append(cmd, "check")...), "ok: ")

	goIn("build", "-tags", "lkl", "-o", "fileserver-lkl", ".")
	goIn("vet", "-tags", "lkl", ".")
	checkFileserver(t, filepath.Join(mod, "fileserver-lkl"), true)

	goIn("build", "-o", "fileserver-host", ".")
	checkFileserver(t, filepath.Join(mod, "fileserver-host"), false)
}

// unsetCgoFlags removes CGO_CFLAGS and CGO_LDFLAGS from the test's
// environment (make test exports them) for the rest of the test, so the go
// commands it runs see only what gokernel-lkl install wrote with go env -w.
func unsetCgoFlags(t *testing.T) {
	for _, name := range []string{"CGO_CFLAGS", "CGO_LDFLAGS"} {
		if v, ok := os.LookupEnv(name); ok {
			require.NoError(t, os.Unsetenv(name))
			t.Cleanup(func() { os.Setenv(name, v) })
		}
	}
}

func mustRecipe(t *testing.T) *recipe.Recipe {
	r, err := recipe.Load()
	require.NoError(t, err)
	return r
}
