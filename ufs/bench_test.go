package ufs_test

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/ufs"
)

// ufs on the host against os, the reference: impl=os, impl=ufs, so that
// benchstat -col /impl prints the ratio. ufs pays for confinement (one
// openat per path component, no openat2 on LKL) where os opens the whole
// path at once.

// benchTree makes dirs directories of files 4 KiB files each under a
// fresh directory.
func benchTree(b *testing.B, dirs, files int) string {
	root := b.TempDir()
	data := make([]byte, 4096)
	for d := range dirs {
		dir := filepath.Join(root, fmt.Sprintf("d%03d", d))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		for f := range files {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%04d", f)), data, 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	return root
}

func BenchmarkReadFile4K(b *testing.B) {
	root := benchTree(b, 1, 1)
	b.Run("impl=os", func(b *testing.B) {
		name := filepath.Join(root, "d000", "f0000")
		for b.Loop() {
			if _, err := os.ReadFile(name); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=ufs", func(b *testing.B) {
		fsys := ufs.New(sys.Host(), root)
		defer fsys.Close()
		for b.Loop() {
			if _, err := fsys.ReadFile("d000/f0000"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkReadDir1000(b *testing.B) {
	root := benchTree(b, 1, 1000)
	b.Run("impl=os", func(b *testing.B) {
		for b.Loop() {
			if _, err := os.ReadDir(filepath.Join(root, "d000")); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=ufs", func(b *testing.B) {
		fsys := ufs.New(sys.Host(), root)
		defer fsys.Close()
		for b.Loop() {
			if _, err := fsys.ReadDir("d000"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkWalkDir(b *testing.B) {
	root := benchTree(b, 20, 50)
	b.Run("impl=os", func(b *testing.B) {
		for b.Loop() {
			n := 0
			filepath.WalkDir(root, func(string, fs.DirEntry, error) error { n++; return nil })
			if n != 1021 {
				b.Fatal(n)
			}
		}
	})
	b.Run("impl=ufs", func(b *testing.B) {
		fsys := ufs.New(sys.Host(), root)
		defer fsys.Close()
		for b.Loop() {
			n := 0
			fs.WalkDir(fsys, ".", func(string, fs.DirEntry, error) error { n++; return nil })
			if n != 1021 {
				b.Fatal(n)
			}
		}
	})
}
