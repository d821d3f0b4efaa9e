//go:build lkl

package sys_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gokernel/gokernel/sys"
)

// With -tags lkl, GOKERNEL=lkl needs no import beyond sys: the child writes
// through LKL's fd 1, which is wired to the process's stdout.
func TestSelectLKL(t *testing.T) {
	require.Contains(t, sys.Kernels(), "lkl")
	dir := t.TempDir()
	writeConfig := func(name, json string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(json), 0o644))
		return p
	}
	good := writeConfig("good.json", `{"memory": "32M"}`)
	missingDisk := writeConfig("missing.json", `{"disks": [{"path": "nope.img", "mountpoint": "/mnt/d"}]}`)
	badKey := writeConfig("badkey.json", `{"memroy": "32M"}`)
	isolated := writeConfig("isolated.json", `{"memory": "32M", "isolation": "process"}`)
	isolatedMissing := writeConfig("isolated-missing.json", `{"isolation": "process", "disks": [{"path": "nope.img", "mountpoint": "/mnt/d"}]}`)

	tests := []struct {
		name           string
		env            []string
		code           int
		stdout, stderr string
	}{
		{name: "lkl", env: []string{"GOKERNEL=lkl"}, stdout: "child says hi"},
		{name: "lkl with config", env: []string{"GOKERNEL=lkl", "GOKERNEL_CONFIG=" + good}, stdout: "child says hi"},
		{name: "traced lkl", env: []string{"GOKERNEL=lkl", "GOKERNEL_TRACE=1"}, stdout: "child says hi", stderr: "[lkl] write(0x1, "},
		{name: "missing image names the file", env: []string{"GOKERNEL=lkl", "GOKERNEL_CONFIG=" + missingDisk}, code: 2, stderr: filepath.Join(dir, "nope.img")},
		{name: "unknown key names the key", env: []string{"GOKERNEL=lkl", "GOKERNEL_CONFIG=" + badKey}, code: 2, stderr: `unknown field "memroy"`},
		{name: "isolated lkl", env: []string{"GOKERNEL=lkl", "GOKERNEL_CONFIG=" + isolated}, stdout: "child says hi"},
		{name: "isolated missing image names the file", env: []string{"GOKERNEL=lkl", "GOKERNEL_CONFIG=" + isolatedMissing}, code: 2, stderr: filepath.Join(dir, "nope.img")},
		{name: "missing config file", env: []string{"GOKERNEL=lkl", "GOKERNEL_CONFIG=" + filepath.Join(dir, "none.json")}, code: 2, stderr: "none.json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := runChild(t, tc.env...)
			require.Equal(t, tc.code, code, "stderr: %s", stderr)
			require.Contains(t, stdout, tc.stdout)
			require.Contains(t, stderr, tc.stderr)
			if tc.code != 0 {
				require.NotContains(t, stdout, "child says hi", "no fallback to the host kernel")
			}
		})
	}
}
