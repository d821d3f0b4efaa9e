//go:build amd64

package supervise_test

import (
	"context"
	"fmt"

	"github.com/gokernel/gokernel/supervise"
	"github.com/gokernel/gokernel/sys"
)

// Run a program under the supervisor and get its exit status. Here the
// "other kernel" is the host itself, so the example runs anywhere; demo
// run passes LKL (Kernel: the *lkl.Kernel, ForProcess: its ForProcess).
// The program calling Run calls supervise.Child first thing (this test
// binary's TestMain does).
func ExampleRun() {
	code, err := supervise.Run(context.Background(), supervise.Options{Kernel: sys.Host()}, []string{"sh", "-c", "echo hello from the child; exit 3"})
	fmt.Println(code, err)
	// Output:
	// hello from the child
	// 3 <nil>
}

// The seccomp program the child installs: it starts by checking the
// system call's architecture.
func ExampleFilter() {
	prog, err := supervise.Filter(supervise.FilterOptions{Paths: true})
	if err != nil {
		panic(err)
	}
	fmt.Println(prog[0])
	fmt.Println(prog[len(prog)-1])
	// Output:
	// ld [4]
	// ret #2147418112
}
