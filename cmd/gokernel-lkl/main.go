package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/gokernel/gokernel/third_party/lkl"
)

const usage = `usage: gokernel-lkl install | build [-out DIR] | env [-w] | check

  install   build LKL or reuse the cached build, then go env -w the cgo flags
  build     build LKL or reuse the cached build (-out DIR: also install a copy there)
  env       print the cgo flags as shell exports (-w: write them with go env -w)
  check     check that the build exists and that cgo is pointed at it
`

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "gokernel-lkl:", err)
		}
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return flag.ErrHelp
	}
	r, err := lkl.Load()
	if err != nil {
		return err
	}
	root, err := cacheRoot()
	if err != nil {
		return err
	}
	b := &builder{r: r, entry: filepath.Join(root, r.Hash), root: root, stderr: stderr}
	fs := flag.NewFlagSet("gokernel-lkl "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	out := ""
	write := false
	switch args[0] {
	case "build":
		fs.StringVar(&out, "out", "", "also install a copy of the build into `dir`")
	case "env":
		fs.BoolVar(&write, "w", false, "write the flags with go env -w instead of printing them")
	case "install", "check":
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown subcommand %q", args[0])
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected arguments %q", args[0], fs.Args())
	}
	switch args[0] {
	case "build":
		if err := b.build(out); err != nil {
			return err
		}
		fmt.Fprintln(stdout, b.entry)
		return nil
	case "env":
		if err := b.ready(); err != nil {
			return err
		}
		return b.env(write, stdout)
	case "install":
		if err := b.build(""); err != nil {
			return err
		}
		if err := b.env(true, stdout); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "gokernel-lkl: cgo now finds LKL (lkl@%s, recipe %.12s) in %s\n"+
			"gokernel-lkl: build with: go build -tags lkl (binaries link LKL, which is GPL-2.0)\n",
			r.Version, r.Hash, b.entry)
		return nil
	default: // check
		return b.check(stdout)
	}
}

// cacheRoot is build.sh's cache_root: ${XDG_CACHE_HOME:-$HOME/.cache}/gokernel/lkl.
func cacheRoot() (string, error) {
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" {
		home := os.Getenv("HOME")
		if home == "" {
			return "", errors.New("neither XDG_CACHE_HOME nor HOME is set; cannot place the LKL build cache")
		}
		base = filepath.Join(home, ".cache")
	}
	root, err := filepath.Abs(filepath.Join(base, "gokernel", "lkl"))
	if err != nil {
		return "", err
	}
	// Go splits CGO_CFLAGS at white space (quotes aside); keep it simple.
	if strings.ContainsAny(root, " \t\n'\"\\") {
		return "", fmt.Errorf("the LKL cache directory %q contains white space or quotes, which cgo flags cannot carry; set XDG_CACHE_HOME to a plain path", root)
	}
	return root, nil
}

// A builder builds or finds the cache entry of one recipe.
type builder struct {
	r      *lkl.Recipe
	root   string // the cache root
	entry  string // root/HASH
	stderr io.Writer
}

// complete reports whether dir holds a finished build of the recipe.
func (b *builder) complete(dir string) bool {
	stamp, err := os.ReadFile(filepath.Join(dir, "STAMP"))
	return err == nil && strings.TrimSpace(string(stamp)) == b.r.Hash &&
		isFile(filepath.Join(dir, "lib", "liblkl.a")) && isFile(filepath.Join(dir, "include", "lkl.h"))
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// ready says whether the entry is there, with its header, and what to run if
// not.
func (b *builder) ready() error {
	if !b.complete(b.entry) {
		return fmt.Errorf("LKL (recipe %.12s) is not built in %s; run: %s", b.r.Hash, b.entry, lkl.InstallCommand)
	}
	got, err := os.ReadFile(filepath.Join(b.entry, "include", lkl.HeaderName))
	if err != nil || !bytes.Equal(got, b.r.InstalledHeader()) {
		return fmt.Errorf("%s has no current %s; run: %s", b.entry, lkl.HeaderName, lkl.InstallCommand)
	}
	return nil
}

// build makes sure the cache entry exists (running build.sh when it does
// not, or when out is not a current copy), then writes its header.
func (b *builder) build(out string) error {
	if out != "" {
		abs, err := filepath.Abs(out)
		if err != nil {
			return err
		}
		out = abs
	}
	if !b.complete(b.entry) || (out != "" && !b.complete(out)) {
		if err := b.runRecipe(out); err != nil {
			return err
		}
		if !b.complete(b.entry) {
			return fmt.Errorf("build.sh finished but %s is not a complete build", b.entry)
		}
	}
	if err := writeFile(filepath.Join(b.entry, "include", lkl.HeaderName), b.r.InstalledHeader()); err != nil {
		return err
	}
	if out != "" {
		return writeFile(filepath.Join(out, "include", lkl.HeaderName), b.r.InstalledHeader())
	}
	return nil
}

// runRecipe runs build.sh from a temporary copy of the embedded recipe. It
// builds the entry (or reuses it, waiting on build.sh's lock if another
// build of the same hash is running) and installs a copy into out, or into
// a throw-away directory when out is empty.
func (b *builder) runRecipe(out string) error {
	tmp, err := os.MkdirTemp("", "gokernel-lkl-recipe-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := b.r.Extract(tmp); err != nil {
		return err
	}
	if out == "" {
		out = filepath.Join(tmp, "out")
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		return fmt.Errorf("building LKL needs bash: %w", err)
	}
	cmd := exec.Command(bash, filepath.Join(tmp, "build.sh"), b.r.Hash, out)
	cmd.Env = append(os.Environ(), "LKL_VERSION="+b.r.Version)
	cmd.Stdout, cmd.Stderr = b.stderr, b.stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("building LKL (recipe %.12s) failed: %w (build.sh's messages are above)", b.r.Hash, err)
	}
	return nil
}

// writeFile replaces path with data unless it holds data already. The new
// file is renamed into place, so readers never see half of it, and
// concurrent writers of the same content do not disturb each other.
func writeFile(path string, data []byte) error {
	if got, err := os.ReadFile(path); err == nil && bytes.Equal(got, data) {
		return nil
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}
