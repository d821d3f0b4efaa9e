package supervise

import (
	"path"
	"strings"
)

// cleanPath cleans p lexically, as the supervisor compares paths: "..",
// "." and repeated slashes are resolved in the text; symbolic links are
// not followed.
func cleanPath(p string) string { return path.Clean(p) }

// under reports whether absolute path p is, lexically, one of the other
// kernel's directories or inside one.
func (s *supervisor) under(p string) bool {
	p = cleanPath(p)
	for _, d := range s.dirs {
		if p == d || strings.HasPrefix(p, d+"/") || d == "/" {
			return true
		}
	}
	return false
}
