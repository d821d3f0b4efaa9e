//go:build lkl

package isolated

// StallLimit as CopyToHost's limit makes the child's copy stop for ever
// before its first read from LKL, as a file system that loops in a read
// would, without progress (hostCopyStall).
const StallLimit = 1<<40 + 7

// Set in the test binary's variable initialization, so before the init
// hook that makes a child of it serve.
var _ = func() bool { hostCopyHook = hostCopyStall; return true }()

func hostCopyStall(limit int64) {
	if limit == StallLimit {
		select {}
	}
}
