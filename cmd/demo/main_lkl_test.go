//go:build lkl

package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gokernel/gokernel/internal/imagetest"
)

// The same demo commands on LKL: hello prints exactly what it prints on the
// host, and readfile reads a file inside a disk image LKL mounts.
func TestDemoOnLKL(t *testing.T) {
	img := imagetest.Build(t, "ext4", imagetest.Tree{"docs/hello.txt": "hello from inside an ext4 image\n"})
	cfg := filepath.Join(t.TempDir(), "lkl.json")
	require.NoError(t, os.WriteFile(cfg, []byte(`{"disks":[{"path":"`+img+`","readonly":true,"mountpoint":"/mnt/disk"}]}`), 0o644))
	lkl := []string{"GOKERNEL=lkl", "GOKERNEL_CONFIG=" + cfg}

	tests := []struct {
		name           string
		args           []string
		code           int
		stdout, stderr string
	}{
		{name: "hello", args: []string{"hello"}, stdout: "hello, world\n"},
		{name: "readfile", args: []string{"readfile", "/mnt/disk/docs/hello.txt"}, stdout: "hello from inside an ext4 image\n"},
		{name: "readfile missing", args: []string{"readfile", "/mnt/disk/nope"}, code: 1, stderr: "open /mnt/disk/nope: no such file or directory"},
		{name: "lkl-info", args: []string{"lkl-info"}, stdout: "image:   " + img + " -> /mnt/disk (ext4, /dev/gk0, read-only)"},
		{name: "trace", args: []string{"trace", "--", "hello"}, stdout: "hello, world\n", stderr: "[lkl] write(0x1, "},
		{name: "sysinfo", args: []string{"sysinfo"}, stdout: "pid:     1\n"},
		{name: "sysinfo mounts", args: []string{"sysinfo"}, stdout: "/dev/gk0 /mnt/disk ext4 ro"},
		{name: "echo-blocking over LKL's loopback", args: []string{"echo-blocking", "-selftest"}, stdout: "selftest: 3 messages echoed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := demo(t, lkl, tc.args...)
			require.Equal(t, tc.code, code, "stderr: %s", stderr)
			if tc.name == "hello" || tc.name == "readfile" {
				require.Equal(t, tc.stdout, stdout, "exactly the line, as on the host")
			}
			require.Contains(t, stdout, tc.stdout)
			require.Contains(t, stderr, tc.stderr)
		})
	}

	_, stderr, code := demo(t, nil, "lkl-info")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "not LKL: run with GOKERNEL=lkl")
}
