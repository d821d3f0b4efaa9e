//go:build !lkl

package isolated_test

import (
	"strings"
	"testing"

	"github.com/gokernel/gokernel/sys/isolated"
)

// TestStartWithoutLKL: a binary without LKL says so instead of starting a
// child that cannot boot.
func TestStartWithoutLKL(t *testing.T) {
	_, err := isolated.Start(nil)
	if err == nil || !strings.Contains(err.Error(), "-tags lkl") {
		t.Fatalf("Start = %v, want an error naming -tags lkl", err)
	}
}
