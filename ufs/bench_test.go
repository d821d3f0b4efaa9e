package ufs_test

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/ufs"
)

// ufs on the host against os, the reference: impl=os, impl=ufs (and
// impl=ufs-lkl, ufs on LKL's root file system, with -tags lkl), so that
// benchstat -col /impl prints the ratios. ufs pays for confinement (one
// openat per path component, no openat2 on LKL) where os opens the whole
// path at once.

// benchTree makes dirs directories of files 4 KiB files each under a
// fresh directory of k, through ufs, and returns the directory.
func benchTree(b *testing.B, k sys.Kernel, dirs, files int) string {
	root := kerneltest.TempDir(b, k)
	fsys := ufs.New(k, root)
	defer fsys.Close()
	data := make([]byte, 4096)
	for d := range dirs {
		dir := fmt.Sprintf("d%03d", d)
		if err := fsys.Mkdir(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		for f := range files {
			if err := fsys.WriteFile(fmt.Sprintf("%s/f%04d", dir, f), data, 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	return root
}

// onKernels runs f as impl=ufs on the host and impl=ufs-KERNEL on every
// other kernel of this test binary (LKL with -tags lkl), each on a tree
// of its own.
func onKernels(b *testing.B, dirs, files int, f func(b *testing.B, fsys *ufs.FS)) {
	for _, kname := range kerneltest.Kernels() {
		name := "impl=ufs"
		if kname != "host" {
			name += "-" + kname
		}
		b.Run(name, func(b *testing.B) {
			k, _ := kerneltest.Lookup(b, kname)
			fsys := ufs.New(k, benchTree(b, k, dirs, files))
			defer fsys.Close()
			f(b, fsys)
		})
	}
}

func BenchmarkReadFile4K(b *testing.B) {
	root := benchTree(b, sys.Host(), 1, 1)
	b.Run("impl=os", func(b *testing.B) {
		name := filepath.Join(root, "d000", "f0000")
		for b.Loop() {
			if _, err := os.ReadFile(name); err != nil {
				b.Fatal(err)
			}
		}
	})
	onKernels(b, 1, 1, func(b *testing.B, fsys *ufs.FS) {
		for b.Loop() {
			if _, err := fsys.ReadFile("d000/f0000"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkReadDir1000(b *testing.B) {
	root := benchTree(b, sys.Host(), 1, 1000)
	b.Run("impl=os", func(b *testing.B) {
		for b.Loop() {
			if _, err := os.ReadDir(filepath.Join(root, "d000")); err != nil {
				b.Fatal(err)
			}
		}
	})
	onKernels(b, 1, 1000, func(b *testing.B, fsys *ufs.FS) {
		for b.Loop() {
			if _, err := fsys.ReadDir("d000"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkWalkDir(b *testing.B) {
	root := benchTree(b, sys.Host(), 20, 50)
	b.Run("impl=os", func(b *testing.B) {
		for b.Loop() {
			n := 0
			filepath.WalkDir(root, func(string, fs.DirEntry, error) error { n++; return nil })
			if n != 1021 {
				b.Fatal(n)
			}
		}
	})
	onKernels(b, 20, 50, func(b *testing.B, fsys *ufs.FS) {
		for b.Loop() {
			n := 0
			fs.WalkDir(fsys, ".", func(string, fs.DirEntry, error) error { n++; return nil })
			if n != 1021 {
				b.Fatal(n)
			}
		}
	})
}

// BenchmarkPaired runs os and ufs on the host in alternating blocks and
// reports ufs/os time, so both see the same moments of a noisy machine:
// below 1/0.95 ≈ 1.053 means ufs keeps at least 95% of os's speed.
func BenchmarkPaired(b *testing.B) {
	root := benchTree(b, sys.Host(), 20, 50)
	fsys := ufs.New(sys.Host(), root)
	defer fsys.Close()
	walk := func(n *int) fs.WalkDirFunc {
		return func(string, fs.DirEntry, error) error { *n++; return nil }
	}
	b.Run("op=ReadFile", func(b *testing.B) {
		name := filepath.Join(root, "d000", "f0000")
		kerneltest.Paired(b, 32, "ufs/os",
			func() { os.ReadFile(name) },
			func() { fsys.ReadFile("d000/f0000") })
	})
	b.Run("op=ReadDir", func(b *testing.B) {
		kerneltest.Paired(b, 4, "ufs/os",
			func() { os.ReadDir(filepath.Join(root, "d000")) },
			func() { fsys.ReadDir("d000") })
	})
	b.Run("op=WalkDir", func(b *testing.B) {
		var n int
		kerneltest.Paired(b, 1, "ufs/os",
			func() { filepath.WalkDir(root, walk(&n)) },
			func() { fs.WalkDir(fsys, ".", walk(&n)) })
	})
}
