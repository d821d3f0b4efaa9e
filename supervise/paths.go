package supervise

import (
	"path"
	"slices"
	"strings"
)

// cleanPath cleans p lexically, as the supervisor compares paths: "..",
// "." and repeated slashes are resolved in the text; symbolic links are
// not followed.
func cleanPath(p string) string { return path.Clean(p) }

// under reports whether absolute path p is, lexically, one of the other
// kernel's directories or inside one, or one of its files.
func (s *supervisor) under(p string) bool {
	p = cleanPath(p)
	if slices.Contains(s.files, p) {
		return true
	}
	for _, d := range s.dirs {
		if p == d || strings.HasPrefix(p, d+"/") || d == "/" {
			return true
		}
	}
	return false
}
