//go:build !amd64 && !arm64

package sys

// sysNames is empty on architectures mksysname.go does not generate for;
// traces then show numbers instead of names.
var sysNames [0]sysName
