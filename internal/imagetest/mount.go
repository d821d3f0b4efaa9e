package imagetest

import (
	"os"
	"strings"
)

// Mounted reports whether /proc/self/mountinfo lists dir as a mount point
// (the FUSE tests check that a test leaves nothing mounted; imagetest
// itself never mounts anything).
func Mounted(dir string) bool {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	for line := range strings.Lines(string(b)) {
		if f := strings.Fields(line); len(f) > 4 && f[4] == dir {
			return true
		}
	}
	return false
}
