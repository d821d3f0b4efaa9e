// Package xsysnum reads golang.org/x/sys/unix's system call numbers for a
// host architecture, for the generators of gokernel's tables
// (sys/mksysname.go, sys/lkl/mkabi.go): the numbers the ABI contract at
// sys.Syscall names, read from the module's own source, never typed by hand.
//
// xsysnum sits below everything and imports nothing of gokernel; only
// //go:build ignore generators and its tests use it.
package xsysnum

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// UnixDir returns the directory of golang.org/x/sys/unix in the module
// cache, as the go command resolves it for the current module.
func UnixDir() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "golang.org/x/sys").Output()
	if err != nil {
		return "", fmt.Errorf("locating golang.org/x/sys: %v", err)
	}
	return filepath.Join(strings.TrimSpace(string(out)), "unix"), nil
}

// Numbers returns the SYS_ constants of zsysnum_linux_ARCH.go, keyed by the
// lower-case C name ("openat").
func Numbers(unixDir, arch string) (map[string]int, error) {
	path := filepath.Join(unixDir, "zsysnum_linux_"+arch+".go")
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		return nil, err
	}
	nums := map[string]int{}
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, s := range gd.Specs {
			vs := s.(*ast.ValueSpec)
			lit, ok := vs.Values[0].(*ast.BasicLit)
			name := vs.Names[0].Name
			if !ok || !strings.HasPrefix(name, "SYS_") {
				continue
			}
			n, err := strconv.Atoi(lit.Value)
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %v", path, name, err)
			}
			nums[strings.ToLower(strings.TrimPrefix(name, "SYS_"))] = n
		}
	}
	if len(nums) == 0 {
		return nil, fmt.Errorf("%s: no SYS_ constants", path)
	}
	return nums, nil
}
