package ufs_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/gokernel/gokernel/eloop"
	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/ufs"
)

// exampleDir makes a scratch directory on the host for an example.
func exampleDir() (string, func()) {
	dir, err := os.MkdirTemp("", "ufs-example")
	if err != nil {
		panic(err)
	}
	return dir, func() { os.RemoveAll(dir) }
}

// An FS reads and writes the tree under one directory of a kernel.
func ExampleNew() {
	dir, cleanup := exampleDir()
	defer cleanup()
	fsys := ufs.New(sys.Host(), dir)
	defer fsys.Close()

	if err := fsys.MkdirAll("docs/notes", 0o755); err != nil {
		fmt.Println(err)
		return
	}
	fsys.WriteFile("docs/notes/hello.txt", []byte("hello, ufs\n"), 0o644)
	b, err := fs.ReadFile(fsys, "docs/notes/hello.txt")
	fmt.Printf("%q %v\n", b, err)
	// Output: "hello, ufs\n" <nil>
}

// An FS is an fs.FS: fs.WalkDir, fs.Glob and fs.Sub work on it.
func ExampleFS_ReadDir() {
	dir, cleanup := exampleDir()
	defer cleanup()
	fsys := ufs.New(sys.Host(), dir)
	defer fsys.Close()
	for _, name := range []string{"a/1.txt", "a/2.txt", "b/3.go"} {
		fsys.MkdirAll(name[:1], 0o755)
		fsys.WriteFile(name, nil, 0o644)
	}
	fs.WalkDir(fsys, ".", func(path string, d fs.DirEntry, err error) error {
		fmt.Println(path, d.IsDir())
		return err
	})
	matches, _ := fs.Glob(fsys, "*/*.txt")
	fmt.Println(matches)
	// Output:
	// . true
	// a true
	// a/1.txt false
	// a/2.txt false
	// b true
	// b/3.go false
	// [a/1.txt a/2.txt]
}

// Nothing outside the root is reachable: not by "..", not through a
// symlink.
func ExampleFS_Open_confinement() {
	dir, cleanup := exampleDir()
	defer cleanup()
	fsys := ufs.New(sys.Host(), dir)
	defer fsys.Close()
	fsys.Symlink("/etc/passwd", "passwd")
	fsys.Symlink("../../etc/passwd", "climb")

	_, err := fsys.Open("../etc/passwd")
	fmt.Println(errors.Is(err, fs.ErrInvalid))
	_, err = fsys.ReadFile("passwd")
	fmt.Println(err)
	_, err = fsys.ReadFile("climb")
	fmt.Println(err)
	// Output:
	// true
	// open passwd: invalid cross-device link
	// open climb: invalid cross-device link
}

// io.Copy between two Files: on one kernel the bytes never leave it
// (copy_file_range); between kernels (host and LKL) they go through
// memory.
func ExampleFile_ReadFrom() {
	dir, cleanup := exampleDir()
	defer cleanup()
	fsys := ufs.New(sys.Host(), dir)
	defer fsys.Close()
	fsys.WriteFile("src", []byte("copied inside the kernel"), 0o644)

	src, _ := fsys.Open("src")
	defer src.Close()
	dst, _ := fsys.Create("dst")
	n, err := io.Copy(dst, src)
	dst.Close()
	b, _ := fsys.ReadFile("dst")
	fmt.Println(n, err, string(b))
	// Output: 24 <nil> copied inside the kernel
}

// Errors are *fs.PathError around the errno.
func ExampleFS_Stat() {
	dir, cleanup := exampleDir()
	defer cleanup()
	fsys := ufs.New(sys.Host(), dir)
	defer fsys.Close()
	_, err := fsys.Stat("missing")
	fmt.Println(err, errors.Is(err, fs.ErrNotExist))
	// Output: stat missing: no such file or directory true
}

// The async API runs the calls on a loop's workers and calls back on the
// loop.
func ExampleAsync() {
	dir, cleanup := exampleDir()
	defer cleanup()
	fsys := ufs.New(sys.Host(), dir)
	defer fsys.Close()
	loop, err := eloop.New(sys.Host(), eloop.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	a := ufs.NewAsync(fsys, loop)
	ctx := context.Background()
	a.WriteFile(ctx, "note", []byte("written on a worker"), 0o644, func(err error) {
		a.ReadFile(ctx, "note", func(b []byte, err error) {
			fmt.Println(string(b), err)
			loop.Stop()
		})
	})
	loop.Run(ctx)
	// Output: written on a worker <nil>
}

// A sub-FS is confined to its directory.
func ExampleFS_Sub() {
	dir, cleanup := exampleDir()
	defer cleanup()
	fsys := ufs.New(sys.Host(), dir)
	defer fsys.Close()
	fsys.MkdirAll("site/static", 0o755)
	fsys.WriteFile("site/static/index.html", []byte("<h1>hi</h1>"), 0o644)
	site, _ := fsys.Sub("site")
	b, err := fs.ReadFile(site, "static/index.html")
	fmt.Println(string(b), err)
	site.(*ufs.FS).Close()
	// Output: <h1>hi</h1> <nil>
}

// Writes take os.Root-style names; errors name both paths of a rename.
func ExampleFS_Rename() {
	dir, cleanup := exampleDir()
	defer cleanup()
	fsys := ufs.New(sys.Host(), dir)
	defer fsys.Close()
	fsys.WriteFile("draft.txt", []byte("v1"), 0o644)
	fmt.Println(fsys.Rename("draft.txt", "final.txt"))
	fmt.Println(fsys.Rename("draft.txt", "final.txt"))
	// Output:
	// <nil>
	// renameat draft.txt final.txt: no such file or directory
}

// RemoveAll removes a tree; symlinks in it are removed, never followed.
func ExampleFS_RemoveAll() {
	dir, cleanup := exampleDir()
	defer cleanup()
	fsys := ufs.New(sys.Host(), dir)
	defer fsys.Close()
	fsys.MkdirAll("build/obj", 0o755)
	fsys.WriteFile("keep.txt", nil, 0o644)
	fsys.Symlink("../keep.txt", "build/obj/link")
	fmt.Println(fsys.RemoveAll("build"))
	_, err := fsys.Stat("keep.txt")
	fmt.Println(err)
	// Output:
	// <nil>
	// <nil>
}

// A directory File pages through its entries.
func ExampleFile_ReadDir() {
	dir, cleanup := exampleDir()
	defer cleanup()
	fsys := ufs.New(sys.Host(), dir)
	defer fsys.Close()
	for _, n := range []string{"a", "b", "c"} {
		fsys.WriteFile(n, nil, 0o644)
	}
	d, _ := fsys.OpenFile(".", os.O_RDONLY, 0)
	defer d.Close()
	total := 0
	for {
		ents, err := d.ReadDir(2)
		total += len(ents)
		if err == io.EOF {
			break
		}
	}
	fmt.Println(total)
	// Output: 3
}
