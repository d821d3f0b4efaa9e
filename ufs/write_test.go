package ufs_test

import (
	"io/fs"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/internal/kerneltest"
	"github.com/gokernel/gokernel/sys"
	"github.com/gokernel/gokernel/ufs"
)

func TestWrites(t *testing.T) {
	kerneltest.Run(t, func(t *testing.T, k sys.Kernel) {
		kerneltest.CheckFDs(t, k)
		fsys := ufs.New(k, kerneltest.TempDir(t, k))
		defer fsys.Close()
		stat := func(t *testing.T, name string) *unix.Stat_t {
			fi, err := fsys.Lstat(name)
			require.NoError(t, err)
			return fi.Sys().(*unix.Stat_t)
		}
		tests := []struct {
			name string
			run  func(t *testing.T)
		}{
			{"mkdir", func(t *testing.T) {
				require.NoError(t, fsys.Mkdir("d", 0o750))
				require.ErrorIs(t, fsys.Mkdir("d", 0o750), fs.ErrExist)
				require.True(t, stat(t, "d").Mode&unix.S_IFDIR != 0)
				require.ErrorIs(t, fsys.Mkdir("none/d", 0o750), fs.ErrNotExist)
			}},
			{"mkdir all", func(t *testing.T) {
				require.NoError(t, fsys.MkdirAll("p/q/r/s", 0o755))
				require.NoError(t, fsys.MkdirAll("p/q/r/s", 0o755), "exists: no error")
				require.NoError(t, fsys.Symlink("p/q", "to-q"))
				require.NoError(t, fsys.MkdirAll("to-q/r", 0o755), "a symlink to a directory will do")
				require.NoError(t, fsys.WriteFile("file", nil, 0o644))
				require.ErrorIs(t, fsys.MkdirAll("file/x", 0o755), syscall.ENOTDIR)
				require.ErrorIs(t, fsys.MkdirAll("file", 0o755), syscall.ENOTDIR)
			}},
			{"write, create exclusive", func(t *testing.T) {
				require.NoError(t, fsys.WriteFile("w", []byte("12345"), 0o600))
				require.EqualValues(t, 0o600, stat(t, "w").Mode&0o777)
				_, err := fsys.OpenFile("w", unix.O_RDWR|unix.O_CREAT|unix.O_EXCL, 0o644)
				require.ErrorIs(t, err, fs.ErrExist)
				require.NoError(t, fsys.Symlink("nowhere", "dangling"))
				_, err = fsys.OpenFile("dangling", unix.O_RDWR|unix.O_CREAT|unix.O_EXCL, 0o644)
				require.ErrorIs(t, err, fs.ErrExist, "O_EXCL never follows a symlink")
				f, err := fsys.OpenFile("dangling", unix.O_RDWR|unix.O_CREAT, 0o644)
				require.NoError(t, err, "O_CREAT through a dangling link creates its target")
				require.NoError(t, f.Close())
				_, err = fsys.Stat("nowhere")
				require.NoError(t, err)
			}},
			{"remove", func(t *testing.T) {
				require.NoError(t, fsys.WriteFile("r", nil, 0o644))
				require.NoError(t, fsys.Remove("r"))
				require.ErrorIs(t, fsys.Remove("r"), fs.ErrNotExist)
				require.NoError(t, fsys.MkdirAll("rd/x", 0o755))
				require.ErrorIs(t, fsys.Remove("rd"), syscall.ENOTEMPTY)
				require.NoError(t, fsys.Remove("rd/x"))
				require.NoError(t, fsys.Remove("rd"))
			}},
			{"remove all", func(t *testing.T) {
				for _, n := range []string{"ra/a/b/c", "ra/x/y", "ra/z"} {
					require.NoError(t, fsys.MkdirAll(n, 0o755))
				}
				for i := range 200 {
					require.NoError(t, fsys.WriteFile("ra/a/b/f"+string(rune('A'+i%50))+string(rune('a'+i/50)), nil, 0o644))
				}
				require.NoError(t, fsys.Symlink("../p", "ra/z/link"))
				require.NoError(t, fsys.RemoveAll("ra"))
				_, err := fsys.Lstat("ra")
				require.ErrorIs(t, err, fs.ErrNotExist)
				_, err = fsys.Stat("p/q/r/s")
				require.NoError(t, err, "the link's target is untouched")
				require.NoError(t, fsys.RemoveAll("ra"), "missing: no error")
				require.ErrorIs(t, fsys.RemoveAll("."), syscall.EINVAL)
			}},
			{"rename", func(t *testing.T) {
				require.NoError(t, fsys.WriteFile("old", []byte("o"), 0o644))
				require.NoError(t, fsys.Rename("old", "d/new"))
				err := fsys.Rename("old", "d/new")
				require.ErrorIs(t, err, fs.ErrNotExist)
				require.EqualError(t, err, "renameat old d/new: no such file or directory")
				got, err := fsys.ReadFile("d/new")
				require.NoError(t, err)
				require.Equal(t, "o", string(got))
			}},
			{"link", func(t *testing.T) {
				require.NoError(t, fsys.WriteFile("l1", []byte("same"), 0o644))
				require.NoError(t, fsys.Link("l1", "d/l2"))
				require.EqualValues(t, 2, stat(t, "l1").Nlink)
				require.Equal(t, stat(t, "l1").Ino, stat(t, "d/l2").Ino)
				require.ErrorIs(t, fsys.Link("l1", "d/l2"), fs.ErrExist)
			}},
			{"chmod chown chtimes", func(t *testing.T) {
				require.NoError(t, fsys.WriteFile("m", nil, 0o644))
				require.NoError(t, fsys.Symlink("m", "m-link"))
				require.NoError(t, fsys.Chmod("m-link", 0o640|fs.ModeSetgid))
				require.EqualValues(t, 0o640|unix.S_ISGID, stat(t, "m").Mode&0o7777)
				require.NoError(t, fsys.Chown("m-link", 1234, 5678))
				require.EqualValues(t, 1234, stat(t, "m").Uid)
				require.EqualValues(t, 5678, stat(t, "m").Gid)
				require.NoError(t, fsys.Lchown("m-link", 42, 43))
				require.EqualValues(t, 42, stat(t, "m-link").Uid)
				mtime := time.Date(2001, 2, 3, 4, 5, 6, 7000, time.UTC)
				require.NoError(t, fsys.Chtimes("m-link", time.Time{}, mtime))
				fi, err := fsys.Stat("m")
				require.NoError(t, err)
				require.True(t, fi.ModTime().Equal(mtime), "%v", fi.ModTime())
				require.NoError(t, fsys.Lchtimes("m-link", mtime, mtime))
			}},
			{"truncate", func(t *testing.T) {
				require.NoError(t, fsys.WriteFile("t", []byte("0123456789"), 0o644))
				require.NoError(t, fsys.Truncate("t", 3))
				got, err := fsys.ReadFile("t")
				require.NoError(t, err)
				require.Equal(t, "012", string(got))
				require.ErrorIs(t, fsys.Truncate("none", 3), fs.ErrNotExist)
			}},
			{"dot-dot inside the root", func(t *testing.T) {
				require.NoError(t, fsys.WriteFile("d/../dd.txt", []byte("dd"), 0o644))
				got, err := fsys.ReadFile("dd.txt")
				require.NoError(t, err)
				require.Equal(t, "dd", string(got))
			}},
		}
		for _, tc := range tests {
			t.Run(tc.name, tc.run)
		}
	})
}
