package ufs_test

import (
	"io/fs"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/ufs"
)

// hostileTree surrounds the FS's root ("root/") with a secret outside it
// and fills the root with links that try to reach it.
var hostileTree = map[string]string{
	"secret":                              "outside the root\n",
	"root/inside.txt":                     "inside\n",
	"root/sub/file":                       "sub file\n",
	"root/to-root => /":                   "",
	"root/to-etc => /etc/passwd":          "",
	"root/climb => ../secret":             "",
	"root/deep-climb => sub/../../secret": "",
	"root/sub/climb2 => ../../secret":     "",
	"root/sub/ok => ../inside.txt":        "",
	"root/sub/ok-dir => ..":               "",
	"root/loop1 => loop2":                 "",
	"root/loop2 => loop1":                 "",
	"root/self => self":                   "",
	"root/chain0 => chain1":               "",
	"root/chain1 => chain2":               "",
	"root/chain2 => inside.txt":           "",
	"root/dangling => nowhere":            "",
	"root/dir-link => sub":                "",
}

func TestConfinement(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		kerneltest.CheckFDs(t, k)
		base := kerneltest.TempDir(t, k)
		w := ufs.New(k, base)
		writeTree(t, w, hostileTree)
		require.NoError(t, w.Close())
		fsys := ufs.New(k, base+"/root")
		defer fsys.Close()

		reads := []struct {
			name string
			path string
			want string // content, or "" for an error
			err  error
		}{
			{"plain", "inside.txt", "inside\n", nil},
			{"symlink to /", "to-root/etc/passwd", "", syscall.EXDEV},
			{"absolute symlink", "to-etc", "", syscall.EXDEV},
			{"climbing symlink", "climb", "", syscall.EXDEV},
			{"climbing through a directory", "deep-climb", "", syscall.EXDEV},
			{"climbing from below", "sub/climb2", "", syscall.EXDEV},
			{"dot-dot that stays inside", "sub/ok", "inside\n", nil},
			{"link to parent directory", "sub/ok-dir/inside.txt", "inside\n", nil},
			{"loop", "loop1", "", syscall.ELOOP},
			{"self loop", "self", "", syscall.ELOOP},
			{"chain", "chain0", "inside\n", nil},
			{"dangling", "dangling", "", fs.ErrNotExist},
			{"through a directory link", "dir-link/file", "sub file\n", nil},
		}
		for _, tc := range reads {
			t.Run(tc.name, func(t *testing.T) {
				got, err := fsys.ReadFile(tc.path)
				if tc.err != nil {
					require.ErrorIs(t, err, tc.err)
					var pe *fs.PathError
					require.ErrorAs(t, err, &pe)
					require.Equal(t, tc.path, pe.Path)
					return
				}
				require.NoError(t, err)
				require.Equal(t, tc.want, string(got))
			})
		}

		// Writing methods: nothing outside the root changes.
		writes := []struct {
			name string
			f    func() error
			err  error
		}{
			{"create through symlink to /", func() error { return fsys.WriteFile("to-root/tmp/pwned", []byte("x"), 0o644) }, syscall.EXDEV},
			{"overwrite through climbing link", func() error { return fsys.WriteFile("climb", []byte("x"), 0o644) }, syscall.EXDEV},
			{"dot-dot name", func() error { return fsys.WriteFile("../secret", []byte("x"), 0o644) }, syscall.EXDEV},
			{"absolute name", func() error { return fsys.WriteFile("/secret", []byte("x"), 0o644) }, syscall.EXDEV},
			{"mkdir outside", func() error { return fsys.MkdirAll("sub/../../escape", 0o755) }, syscall.EXDEV},
			{"chmod through link", func() error { return fsys.Chmod("climb", 0o777) }, syscall.EXDEV},
			{"truncate through link", func() error { return fsys.Truncate("deep-climb", 0) }, syscall.EXDEV},
			{"rename out", func() error { return fsys.Rename("inside.txt", "../moved") }, syscall.EXDEV},
			{"link out", func() error { return fsys.Link("inside.txt", "to-root/tmp/x") }, syscall.EXDEV},
			{"remove-all dot-dot", func() error { return fsys.RemoveAll("..") }, syscall.EXDEV},
		}
		for _, tc := range writes {
			t.Run(tc.name, func(t *testing.T) {
				require.ErrorIs(t, tc.f(), tc.err)
			})
		}
		// The secret is intact, and removing a link removes the link only.
		require.NoError(t, fsys.Remove("climb"))
		require.NoError(t, fsys.RemoveAll("dir-link"))
		_, err := fsys.Stat("sub/file")
		require.NoError(t, err, "RemoveAll of a symlink does not follow it")
		outside := ufs.New(k, base)
		defer outside.Close()
		got, err := outside.ReadFile("secret")
		require.NoError(t, err)
		require.Equal(t, "outside the root\n", string(got))
		_, err = outside.Stat("escape")
		require.ErrorIs(t, err, fs.ErrNotExist)

		// A sub-FS is confined to its directory.
		sub, err := fsys.Sub("sub")
		require.NoError(t, err)
		_, err = fs.ReadFile(sub, "ok")
		require.ErrorIs(t, err, syscall.EXDEV, "../inside.txt leaves sub")
		got, err = fs.ReadFile(sub, "file")
		require.NoError(t, err)
		require.Equal(t, "sub file\n", string(got))
		require.NoError(t, sub.(*ufs.FS).Close())
	})
}
