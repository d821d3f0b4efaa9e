package main

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gokernel/gokernel/third_party/lkl"
)

// fakeCache points the LKL cache and the go env file at temporary
// directories, clears CGO_CFLAGS/CGO_LDFLAGS from the environment, and
// returns the cache entry of the embedded recipe (not created).
func fakeCache(t *testing.T) (root, entry string) {
	r, err := lkl.Load()
	require.NoError(t, err)
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache)
	t.Setenv("GOENV", filepath.Join(t.TempDir(), "go.env"))
	for _, name := range cgoVars {
		t.Setenv(name, "") // restored after the test
		os.Unsetenv(name)
	}
	root = filepath.Join(cache, "gokernel", "lkl")
	return root, filepath.Join(root, r.Hash)
}

// fakeBuild makes dir look like a finished build of the recipe, so that
// build has nothing to run.
func fakeBuild(t *testing.T, dir string) {
	r, err := lkl.Load()
	require.NoError(t, err)
	for name, data := range map[string]string{"STAMP": r.Hash + "\n", "lib/liblkl.a": "!<arch>\n", "include/lkl.h": ""} {
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644))
	}
}

func runCmd(args ...string) (stdout, stderr string, err error) {
	var o, e bytes.Buffer
	err = run(args, &o, &e)
	return o.String(), e.String(), err
}

func TestUsageErrors(t *testing.T) {
	fakeCache(t)
	_, stderr, err := runCmd()
	require.ErrorIs(t, err, flag.ErrHelp)
	require.Contains(t, stderr, "usage: gokernel-lkl")
	_, _, err = runCmd("bogus")
	require.EqualError(t, err, `unknown subcommand "bogus"`)
	_, _, err = runCmd("env", "extra")
	require.ErrorContains(t, err, "unexpected arguments")
	_, _, err = runCmd("build", "-nope")
	require.ErrorContains(t, err, "flag provided but not defined")
}

func TestNotBuilt(t *testing.T) {
	fakeCache(t)
	for _, sub := range []string{"env", "check"} {
		_, _, err := runCmd(sub)
		require.ErrorContains(t, err, "is not built in")
		require.ErrorContains(t, err, lkl.InstallCommand)
	}
}

func TestCacheRoot(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", "")
	_, err := cacheRoot()
	require.ErrorContains(t, err, "neither XDG_CACHE_HOME nor HOME")
	t.Setenv("HOME", "/home/a user")
	_, err = cacheRoot()
	require.ErrorContains(t, err, "white space or quotes")
	t.Setenv("HOME", "/home/u")
	root, err := cacheRoot()
	require.NoError(t, err)
	require.Equal(t, "/home/u/.cache/gokernel/lkl", root)
}

// A finished build is reused as it is (nothing runs: the fake liblkl.a
// would fail build.sh's checks), its header is written, and env, env -w and
// check agree on the flags.
func TestEnvAndCheck(t *testing.T) {
	root, entry := fakeCache(t)
	fakeBuild(t, entry)
	r, _ := lkl.Load()

	stdout, _, err := runCmd("build")
	require.NoError(t, err)
	require.Equal(t, entry+"\n", stdout)
	hdr, err := os.ReadFile(filepath.Join(entry, "include", lkl.HeaderName))
	require.NoError(t, err)
	require.Equal(t, string(r.InstalledHeader()), string(hdr))

	_, _, err = runCmd("check")
	require.ErrorContains(t, err, "CGO_CFLAGS does not contain -I"+entry+"/include")

	// The user's own flags stay; an older gokernel LKL directory goes.
	old := filepath.Join(root, "0123")
	vals, err := goEnv("CGO_CFLAGS")
	require.NoError(t, err)
	require.Equal(t, "-O2 -g", vals["CGO_CFLAGS"], "the go command's default")
	goWrite(t, "CGO_CFLAGS=-O1 -I"+old+"/include -DX=1", "CGO_LDFLAGS=-L"+old+"/lib -L/opt/lib")
	_, _, err = runCmd("check")
	require.ErrorContains(t, err, "CGO_CFLAGS names another LKL build (-I"+old+"/include)")

	stdout, _, err = runCmd("env")
	require.NoError(t, err)
	require.Equal(t, "export CGO_CFLAGS='-O1 -DX=1 -I"+entry+"/include'\n"+
		"export CGO_LDFLAGS='-L/opt/lib -L"+entry+"/lib'\n", stdout)

	_, _, err = runCmd("env", "-w")
	require.NoError(t, err)
	vals, err = goEnv(cgoVars...)
	require.NoError(t, err)
	require.Equal(t, "-O1 -DX=1 -I"+entry+"/include", vals["CGO_CFLAGS"])
	require.Equal(t, "-L/opt/lib -L"+entry+"/lib", vals["CGO_LDFLAGS"])
	stdout, _, err = runCmd("check")
	require.NoError(t, err)
	require.Contains(t, stdout, "ok: lkl@"+r.Version)

	// Running install again changes nothing.
	_, _, err = runCmd("install")
	require.NoError(t, err)
	vals2, err := goEnv(cgoVars...)
	require.NoError(t, err)
	require.Equal(t, vals, vals2)

	// A header that is not this recipe's is refused.
	require.NoError(t, os.WriteFile(filepath.Join(entry, "include", lkl.HeaderName), []byte("#define X 1\n"), 0o644))
	_, _, err = runCmd("check")
	require.ErrorContains(t, err, "has no current "+lkl.HeaderName)
}

// build -out leaves a current copy alone, and otherwise runs build.sh from
// the embedded recipe, which finds the (fake) cache entry and installs a
// copy of it.
func TestBuildOut(t *testing.T) {
	_, entry := fakeCache(t)
	fakeBuild(t, entry)

	current := filepath.Join(t.TempDir(), "lkl")
	fakeBuild(t, current)
	marker := filepath.Join(current, "marker")
	require.NoError(t, os.WriteFile(marker, nil, 0o644))
	_, _, err := runCmd("build", "-out", current)
	require.NoError(t, err)
	require.FileExists(t, marker, "build.sh ran: it replaces the directory")
	require.FileExists(t, filepath.Join(current, "include", lkl.HeaderName))

	fresh := filepath.Join(t.TempDir(), "lkl")
	_, stderr, err := runCmd("build", "-out", fresh)
	require.NoError(t, err)
	require.Contains(t, stderr, "lkl: using cached build "+entry)
	for _, name := range []string{"STAMP", "lib/liblkl.a", "include/lkl.h", "include/" + lkl.HeaderName} {
		require.FileExists(t, filepath.Join(fresh, name))
	}
}

// goWrite sets go env variables (in the test's go env file).
func goWrite(t *testing.T, kv ...string) {
	out, err := exec.Command("go", append([]string{"env", "-w"}, kv...)...).CombinedOutput()
	require.NoError(t, err, "%s", out)
}
