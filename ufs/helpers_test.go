package ufs_test

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gokernel/gokernel/internal/imagetest"
	"github.com/gokernel/gokernel/ufs"
)

// testTree is the tree the conformance tests use on every kernel and in
// every image: unicode names, a deep tree, empty files and directories,
// a file of many blocks, relative symlinks (one climbing with "..").
func testTree(fstype string) imagetest.Tree {
	tr := imagetest.Tree{
		"hello.txt":                  "hello, world\n",
		"empty":                      "",
		"empty-dir/":                 "",
		"a/b/c/d/e/f/g/h/deep.txt":   "deep\n",
		"unicode-ñ-日本語.txt":          "unicode name\n",
		"dir/Ünïcödé/ok.txt":         "inside a unicode directory\n",
		"big.bin":                    strings.Repeat("gokernel", 40000),
		"dir/f1":                     "one\n",
		"link => hello.txt":          "",
		"dir/up => ../a/b/c/d/e/f/g": "",
	}
	return tr.For(fstype)
}

// expected lists the tree's names for fstest.TestFS: files, links and
// directories, parents included.
func expected(tr imagetest.Tree) []string {
	set := map[string]bool{}
	for name := range tr {
		name, _, _ = strings.Cut(name, " => ")
		name = strings.TrimSuffix(name, "/")
		for {
			set[name] = true
			i := strings.LastIndexByte(name, '/')
			if i < 0 {
				break
			}
			name = name[:i]
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// writeTree writes tr into fsys through ufs itself.
func writeTree(t testing.TB, fsys *ufs.FS, tr imagetest.Tree) {
	t.Helper()
	for _, name := range slices.Sorted(maps.Keys(tr)) {
		switch { // links first: a link's target may end in a slash
		case strings.Contains(name, " => "):
			link, target, _ := strings.Cut(name, " => ")
			if i := strings.LastIndexByte(link, '/'); i > 0 {
				require.NoError(t, fsys.MkdirAll(link[:i], 0o755))
			}
			require.NoError(t, fsys.Symlink(target, link))
		case strings.HasSuffix(name, "/"):
			require.NoError(t, fsys.MkdirAll(name, 0o755))
		default:
			if i := strings.LastIndexByte(name, '/'); i > 0 {
				require.NoError(t, fsys.MkdirAll(name[:i], 0o755))
			}
			require.NoError(t, fsys.WriteFile(name, []byte(tr[name]), 0o644))
		}
	}
}
