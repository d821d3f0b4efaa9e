//go:build lkl

package lkl_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	recipe "github.com/gokernel/gokernel/third_party/lkl"
)

// TestBuildChecks builds this package against include directories that
// are not a current gokernel-lkl install and checks that the compile
// stops with gk.h's or zrecipe.h's message, naming the command to run, and
// not with a bare "lkl.h: No such file or directory".
func TestBuildChecks(t *testing.T) {
	r, err := recipe.Load()
	require.NoError(t, err)
	stale := *r
	stale.Hash = strings.Repeat("0", 64)

	tests := []struct {
		name  string
		files map[string][]byte // the include directory's files; nil: no directory
		want  string
	}{
		{"missing", nil, "gokernel: LKL is not installed for cgo"},
		{"foreign lkl.h", map[string][]byte{"lkl.h": nil}, "gokernel: the lkl.h on cgo's include path was not installed by gokernel-lkl"},
		{"stale", map[string][]byte{"lkl.h": nil, recipe.HeaderName: stale.InstalledHeader()},
			"gokernel: the LKL on cgo's include path (CGO_CFLAGS) is not the one this gokernel needs (recipe " + r.Hash[:12]},
	}
	// One include path for every case, its contents changed between them:
	// CGO_CFLAGS is part of the build cache key of every cgo package
	// (runtime/cgo too), so a new path per case would rebuild them each time.
	inc := filepath.Join(t.TempDir(), "include")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, os.RemoveAll(inc))
			if tc.files != nil {
				require.NoError(t, os.Mkdir(inc, 0o755))
				for name, data := range tc.files {
					require.NoError(t, os.WriteFile(filepath.Join(inc, name), data, 0o644))
				}
			}
			cmd := exec.Command("go", "build", "-tags", "lkl", ".")
			cmd.Env = append(os.Environ(), "CGO_ENABLED=1", "CGO_CFLAGS=-O2 -g -I"+inc, "CGO_LDFLAGS=-O2 -g")
			out, err := cmd.CombinedOutput()
			require.Error(t, err, "the build must fail")
			require.Contains(t, string(out), tc.want)
			require.Contains(t, string(out), recipe.InstallCommand)
			require.NotContains(t, string(out), "No such file or directory")
		})
	}
}
