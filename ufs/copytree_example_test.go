package ufs_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/ufs"
)

// CopyTree copies a directory, with its files and symlinks, from one FS
// to another: here both on the host; cmd/demo's cp-out copies from an FS
// on LKL (a disk image) to one on the host, and cp-in the other way.
func ExampleCopyTree() {
	src, cleanSrc := exampleDir()
	defer cleanSrc()
	dst, cleanDst := exampleDir()
	defer cleanDst()
	os.MkdirAll(filepath.Join(src, "docs", "notes"), 0o755)
	os.WriteFile(filepath.Join(src, "docs", "hello.txt"), []byte("hello\n"), 0o644)
	os.WriteFile(filepath.Join(src, "docs", "notes", "todo.txt"), []byte("copy trees\n"), 0o600)
	os.Symlink("hello.txt", filepath.Join(src, "docs", "link"))

	from, to := ufs.New(sys.Host(), src), ufs.New(sys.Host(), dst)
	defer from.Close()
	defer to.Close()
	var files, bytes int64 // no Workers: Progress is called on this goroutine only
	err := ufs.CopyTree(to, from, []string{"docs"}, ufs.CopyOptions{
		Progress: func(f, b int64) { files, bytes = files+f, bytes+b },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	todo, _ := os.ReadFile(filepath.Join(dst, "docs", "notes", "todo.txt"))
	fi, _ := os.Stat(filepath.Join(dst, "docs", "notes", "todo.txt"))
	link, _ := os.Readlink(filepath.Join(dst, "docs", "link"))
	fmt.Printf("%d files, %d bytes\n", files, bytes)
	fmt.Printf("notes/todo.txt (%v): %s", fi.Mode(), todo)
	fmt.Println("link ->", link)
	// Output:
	// 2 files, 17 bytes
	// notes/todo.txt (-rw-------): copy trees
	// link -> hello.txt
}
