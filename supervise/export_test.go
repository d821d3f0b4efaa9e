//go:build amd64

package supervise

// SetTestHookPumping sets testHookPumping for a test and returns what
// restores it.
func SetTestHookPumping(f func()) (restore func()) {
	old := testHookPumping
	testHookPumping = f
	return func() { testHookPumping = old }
}

// SetTestHookAddFD sets testHookAddFD for a test and returns what
// restores it.
func SetTestHookAddFD(f func()) (restore func()) {
	old := testHookAddFD
	testHookAddFD = f
	return func() { testHookAddFD = old }
}
