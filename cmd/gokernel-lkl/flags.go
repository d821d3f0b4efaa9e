package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gokernel/gokernel/third_party/lkl"
)

// cgoVars are the go env variables gokernel-lkl sets, in output order.
var cgoVars = []string{"CGO_CFLAGS", "CGO_LDFLAGS"}

// goEnv returns the go command's current values of names (from the process
// environment, the go env file, or the defaults, as go build sees them).
func goEnv(names ...string) (map[string]string, error) {
	out, err := exec.Command("go", append([]string{"env", "-json"}, names...)...).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return nil, fmt.Errorf("go env: %v: %s", err, ee.Stderr)
		}
		return nil, fmt.Errorf("go env: %w", err)
	}
	vals := map[string]string{}
	if err := json.Unmarshal(out, &vals); err != nil {
		return nil, fmt.Errorf("go env -json: %w", err)
	}
	return vals, nil
}

// flags returns the cgo settings that point at b's entry: the current
// values with every -I/-L into the gokernel LKL cache removed and the
// entry's directories added.
func (b *builder) flags() (map[string]string, error) {
	cur, err := goEnv(cgoVars...)
	if err != nil {
		return nil, err
	}
	add := map[string]string{
		"CGO_CFLAGS":  "-I" + filepath.Join(b.entry, "include"),
		"CGO_LDFLAGS": "-L" + filepath.Join(b.entry, "lib"),
	}
	vals := map[string]string{}
	for _, name := range cgoVars {
		fields := slices.DeleteFunc(strings.Fields(cur[name]), b.ours)
		vals[name] = strings.Join(append(fields, add[name]), " ")
	}
	return vals, nil
}

// ours reports whether flag is a -I or -L into the gokernel LKL cache (this
// recipe's entry or another's).
func (b *builder) ours(flag string) bool {
	for _, opt := range []string{"-I", "-L"} {
		if dir, ok := strings.CutPrefix(flag, opt); ok && strings.HasPrefix(dir, b.root+string(filepath.Separator)) {
			return true
		}
	}
	return false
}

// env prints the settings as shell exports, or writes them with go env -w.
func (b *builder) env(write bool, stdout io.Writer) error {
	vals, err := b.flags()
	if err != nil {
		return err
	}
	if !write {
		for _, name := range cgoVars {
			fmt.Fprintf(stdout, "export %s=%s\n", name, shellQuote(vals[name]))
		}
		return nil
	}
	args := []string{"env", "-w"}
	for _, name := range cgoVars {
		args = append(args, name+"="+vals[name])
	}
	cmd := exec.Command("go", args...)
	cmd.Stdout, cmd.Stderr = b.stderr, b.stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go env -w: %w (or set the variables yourself: eval \"$(go run github.com/gokernel/gokernel/cmd/gokernel-lkl env)\")", err)
	}
	for _, name := range cgoVars {
		fmt.Fprintf(stdout, "go env -w %s=%s\n", name, shellQuote(vals[name]))
	}
	return nil
}

// shellQuote quotes s for sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// check says whether the build is there and whether the go command's cgo
// flags point at it and at no other gokernel LKL.
func (b *builder) check(stdout io.Writer) error {
	if err := b.ready(); err != nil {
		return err
	}
	cur, err := goEnv(cgoVars...)
	if err != nil {
		return err
	}
	want := map[string]string{
		"CGO_CFLAGS":  "-I" + filepath.Join(b.entry, "include"),
		"CGO_LDFLAGS": "-L" + filepath.Join(b.entry, "lib"),
	}
	for _, name := range cgoVars {
		for _, f := range strings.Fields(cur[name]) {
			if b.ours(f) && f != want[name] {
				return fmt.Errorf("%s names another LKL build (%s); this gokernel needs recipe %.12s; run: %s",
					name, f, b.r.Hash, lkl.InstallCommand)
			}
		}
		if !slices.Contains(strings.Fields(cur[name]), want[name]) {
			return fmt.Errorf("%s does not contain %s, so cgo cannot find LKL; run: %s", name, want[name], lkl.InstallCommand)
		}
	}
	fmt.Fprintf(stdout, "ok: lkl@%s, recipe %s, in %s; cgo is pointed at it\n", b.r.Version, b.r.Hash, b.entry)
	return nil
}
