//go:build lkl

package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gokernel/gokernel/internal/imagetest"
)

// TestIsolate runs the image tools with --isolate (LKL in a sandboxed
// child process) and the default kernel isolated by its configuration.
func TestIsolate(t *testing.T) {
	img := imagetest.Build(t, "ext4", imagetest.Tree{"docs/hello.txt": "hello from an isolated kernel\n"})
	cfg := filepath.Join(t.TempDir(), "lkl.json")
	require.NoError(t, os.WriteFile(cfg, []byte(`{"isolation":"process","disks":[{"path":"`+img+`","readonly":true,"mountpoint":"/mnt/disk"}]}`), 0o644))
	isolated := []string{"GOKERNEL=lkl", "GOKERNEL_CONFIG=" + cfg}
	dst := t.TempDir()

	tests := []struct {
		name   string
		env    []string
		args   []string
		stdout string
	}{
		{"cat", nil, []string{"cat", "--isolate", img, "/docs/hello.txt"}, "hello from an isolated kernel\n"},
		{"ls", nil, []string{"ls", "--isolate", img, "/docs"}, "hello.txt"},
		{"cp-out", nil, []string{"cp-out", "--isolate", img, "/docs", dst}, ""},
		{"serve", nil, []string{"serve", "--isolate", img, "-listen", "127.0.0.1:0", "-get", "/docs/hello.txt"}, "hello from an isolated kernel\n"},
		{"kernels says isolated", isolated, []string{"kernels"}, "lkl runs: isolated, in a sandboxed child process"},
		{"lkl-info on the isolated default kernel", isolated, []string{"lkl-info"}, "isolated: LKL runs in a sandboxed child process"},
		{"readfile on the isolated default kernel", isolated, []string{"readfile", "/mnt/disk/docs/hello.txt"}, "hello from an isolated kernel\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := demo(t, tc.env, tc.args...)
			require.Equal(t, 0, code, "stderr: %s", stderr)
			require.Contains(t, stdout, tc.stdout)
		})
	}
	got, err := os.ReadFile(filepath.Join(dst, "docs", "hello.txt"))
	require.NoError(t, err)
	require.Equal(t, "hello from an isolated kernel\n", string(got))
}
