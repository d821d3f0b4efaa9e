package gokernel_test

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// module is this repository's module path.
const module = "github.com/gokernel/gokernel"

// layers ranks the top-level directories of the module (and each package
// under internal/), bottom first. A package may import packages of a lower
// rank, and packages under its own top-level directory; nothing else of the
// module. ufs and unet share a rank,
// so neither may import the other.
var layers = map[string]int{
	"internal/imagetest":  -1, // test images from host tools; imports nothing of gokernel
	"internal/xsysnum":    -1, // x/sys/unix's numbers for the generators; imports nothing of gokernel
	"internal/hostecho":   -1, // echo servers on the host's loopback for user-network tests; imports nothing of gokernel
	"disk":                -1, // block devices served from Go (sys/lkl serves virtio-blk from them); imports nothing of gokernel
	"third_party":         -1, // third_party/lkl: LKL's build recipe, embedded for cmd/gokernel-lkl; imports nothing of gokernel
	"sys":                 0,
	"internal/disktest":   0, // test images as disk devices for the volume packages' tests; imports disk; tests only
	"internal/imagemut":   0, // mutated file system images for the hostile-image campaign (gkbench imagefuzz); imports disk
	"internal/kerneltest": 1, // checks every kernel must pass; imports sys; tests only
	"libgo":               1,
	"aio":                 2,
	"supervise":           2, // runs unmodified programs with some calls on another kernel (demo run); imports sys, libgo
	"eloop":               3,
	"ufs":                 4,
	"unet":                4,
	"internal/cli":        4, // the commands' framework (cmd/demo, cmd/gkbench); imports sys; only cmd imports it
	"cmd":                 5,
	"examples":            5, // programs showing the three uses of gokernel, on top of everything
}

// topDir returns the layer directory of a package of this module: its
// top-level directory, or internal/NAME for the internal packages, each of
// which has a layer of its own.
func topDir(pkg string) string {
	rel := strings.TrimPrefix(strings.TrimPrefix(pkg, module), "/")
	top, rest, _ := strings.Cut(rel, "/")
	if top == "internal" {
		name, _, _ := strings.Cut(rest, "/")
		return top + "/" + name
	}
	return top
}

// TestLayers fails on any import that points up or sideways in the stack
// (docs/design.md, "Layers — dependencies point down only"), for the default
// build and for -tags lkl.
func TestLayers(t *testing.T) {
	for _, tags := range []string{"", "lkl"} {
		cmd := exec.Command("go", "list", "-tags", tags, "-deps", "-test", "-json=ImportPath,Imports,Module", "./...")
		cmd.Env = append(cmd.Environ(), "CGO_ENABLED=1")
		outp, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list -tags %q: %v", tags, err)
		}
		dec := json.NewDecoder(strings.NewReader(string(outp)))
		checked := 0
		for {
			var p struct {
				ImportPath string
				Imports    []string
				Module     *struct{ Path string }
			}
			if err := dec.Decode(&p); err == io.EOF {
				break
			} else if err != nil {
				t.Fatal(err)
			}
			if p.Module == nil || p.Module.Path != module {
				continue
			}
			// Test variants ("pkg [pkg.test]") and external test packages
			// ("pkg_test") follow the same rule as the package they test.
			path, _, _ := strings.Cut(p.ImportPath, " ")
			path = strings.TrimSuffix(path, "_test")
			if path == module || strings.HasSuffix(path, ".test") {
				continue // the root holds only this test, which imports nothing of the module
			}
			isTest := strings.Contains(p.ImportPath, ".test]") || strings.HasSuffix(strings.Fields(p.ImportPath)[0], "_test")
			from := topDir(path)
			rank, ok := layers[from]
			if !ok {
				t.Errorf("%s: top-level directory %q has no layer; add it to layers in layers_test.go", path, from)
				continue
			}
			checked++
			for _, imp := range p.Imports {
				imp, _, _ = strings.Cut(imp, " ")
				if !strings.HasPrefix(imp, module+"/") {
					continue
				}
				to := topDir(imp)
				if to == from {
					continue
				}
				// Tests of any layer may use the test harnesses under
				// internal/; nothing else may.
				if isTest && strings.HasPrefix(to, "internal/") {
					continue
				}
				if r, ok := layers[to]; !ok || r >= rank {
					t.Errorf("-tags %q: %s (layer %s) imports %s (layer %s): imports must point down", tags, path, from, imp, to)
				}
			}
		}
		if checked == 0 {
			t.Fatalf("-tags %q: go list found no package of %s", tags, module)
		}
	}
}

// pureUnixFuncs are the golang.org/x/sys/unix functions that make no
// system call, so code above sys may call them.
var pureUnixFuncs = map[string]bool{
	"BytePtrFromString": true, "ByteSliceFromString": true, "ByteSliceToString": true, "BytePtrToString": true,
	"ErrnoName": true, "SignalName": true, "SignalNum": true, "Mkdev": true, "Major": true, "Minor": true,
	"UnixRights": true, "ParseUnixRights": true, "ParseSocketControlMessage": true, "ParseOneSocketControlMessage": true,
	"CmsgLen": true, "CmsgSpace": true, "NsecToTimespec": true, "NsecToTimeval": true,
	"TimespecToNsec": true, "TimevalToNsec": true,
}

// TestNoDirectSyscallsAboveSys enforces house rule 2: above sys, x/sys/unix
// gives constants, types and pure helpers only; every system call goes
// through a sys.Kernel. The same holds for the plumbing of sys/lkl (and
// its usernet) and of sys/isolated (LKL in a child process), whose host
// calls go through the host.Caller sys gives it
// (sys's doc, "Binding rule"); only sys/host calls x/sys/unix itself.
// Tests are exempt (benchmarks compare with unix.*).
func TestNoDirectSyscallsAboveSys(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "golang.org/x/sys").Output()
	if err != nil {
		t.Fatal(err)
	}
	unixDir := filepath.Join(strings.TrimSpace(string(out)), "unix")
	types := map[string]bool{}
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, unixDir, func(fi fs.FileInfo) bool {
		return strings.HasSuffix(fi.Name(), "_linux.go") || strings.HasSuffix(fi.Name(), "_linux_amd64.go") || strings.HasSuffix(fi.Name(), "_unix.go")
	}, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pkgs {
		for _, f := range p.Files {
			for _, d := range f.Decls {
				if gd, ok := d.(*ast.GenDecl); ok && gd.Tok == token.TYPE {
					for _, s := range gd.Specs {
						types[s.(*ast.TypeSpec).Name.Name] = true
					}
				}
			}
		}
	}
	if !types["Stat_t"] {
		t.Fatal("found no x/sys/unix types; is the module there?")
	}
	checked := 0
	for _, dir := range []string{"libgo", "aio", "eloop", "unet", "ufs", "cmd", "sys/lkl", "sys/isolated", "supervise"} {
		filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			f, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				t.Error(err)
				return nil
			}
			checked++
			// The names x/sys/unix goes by in this file: "unix", or
			// whatever the import renames it to (a dot or blank import
			// calls nothing by a name).
			unixNames := map[string]bool{}
			for _, imp := range f.Imports {
				if strings.Trim(imp.Path.Value, `"`) != "golang.org/x/sys/unix" {
					continue
				}
				name := "unix"
				if imp.Name != nil {
					name = imp.Name.Name
				}
				if name == "." {
					t.Errorf("%s: dot-imports golang.org/x/sys/unix: name it, so its calls can be checked", fset.Position(imp.Pos()))
				}
				unixNames[name] = true
			}
			ast.Inspect(f, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				if id, ok := sel.X.(*ast.Ident); ok && unixNames[id.Name] && !types[sel.Sel.Name] && !pureUnixFuncs[sel.Sel.Name] {
					t.Errorf("%s: calls %s.%s (golang.org/x/sys/unix), which may make a system call: go through a sys.Kernel (libgo) instead", fset.Position(call.Pos()), id.Name, sel.Sel.Name)
				}
				return true
			})
			return nil
		})
	}
	if checked == 0 {
		t.Fatal("checked no files")
	}
}
