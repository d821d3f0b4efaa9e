//go:build lkl

package isolated

// The walk of a tree export stalls for ever, in the child, at an entry
// named "stall" (exporttree_lkl_test.go); set in the test binary's
// variable initialization, so before the init hook that makes a child of
// it serve.
var _ = func() bool {
	exportHook = func(name string) {
		if name == "stall" {
			select {}
		}
	}
	return true
}()
