//go:build amd64

package supervise

import (
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestAtForm checks the rewrites of path calls into their *at forms
// relative to a directory fd (7 here); p and q stand for path pointers.
func TestAtForm(t *testing.T) {
	const dir, p, q = 7, 0x1000, 0x2000
	tests := []struct {
		name string
		nr   uintptr
		args [6]uintptr
		want uintptr
		out  [6]uintptr
		ok   bool
	}{
		{"open", unix.SYS_OPEN, [6]uintptr{p, unix.O_RDONLY, 0}, unix.SYS_OPENAT, [6]uintptr{dir, p, unix.O_RDONLY, 0}, true},
		{"creat", unix.SYS_CREAT, [6]uintptr{p, 0o644}, unix.SYS_OPENAT, [6]uintptr{dir, p, unix.O_CREAT | unix.O_WRONLY | unix.O_TRUNC, 0o644}, true},
		{"lstat", unix.SYS_LSTAT, [6]uintptr{p, q}, unix.SYS_NEWFSTATAT, [6]uintptr{dir, p, q, unix.AT_SYMLINK_NOFOLLOW}, true},
		{"rmdir", unix.SYS_RMDIR, [6]uintptr{p}, unix.SYS_UNLINKAT, [6]uintptr{dir, p, unix.AT_REMOVEDIR}, true},
		{"rename", unix.SYS_RENAME, [6]uintptr{p, q}, unix.SYS_RENAMEAT, [6]uintptr{dir, p, dir, q}, true},
		{"symlink: the target is not a path", unix.SYS_SYMLINK, [6]uintptr{p, q}, unix.SYS_SYMLINKAT, [6]uintptr{p, dir, q}, true},
		{"lchown", unix.SYS_LCHOWN, [6]uintptr{p, 1, 2}, unix.SYS_FCHOWNAT, [6]uintptr{dir, p, 1, 2, unix.AT_SYMLINK_NOFOLLOW}, true},
		{"truncate has no *at form", unix.SYS_TRUNCATE, [6]uintptr{p, 10}, unix.SYS_TRUNCATE, [6]uintptr{p, 10}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			nr, args, ok := atForm(tc.nr, tc.args, dir)
			require.Equal(t, tc.ok, ok)
			require.Equal(t, tc.want, nr)
			require.Equal(t, tc.out, args)
		})
	}
}
