// Command retarget chooses its kernel at startup: sys.Init reads GOKERNEL
// (host or lkl) and GOKERNEL_CONFIG, and a selection it cannot honour is an
// error here, never a silent fallback to the host. It prints the kernel's
// name and release, then stops it in order with sys.Shutdown.
//
//	go run ./examples/retarget                  # host 6.x…
//	go run -tags lkl ./examples/retarget        # still the host: GOKERNEL unset
//	GOKERNEL=lkl go run -tags lkl ./examples/retarget   # lkl 4.9.0
package main

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/libgo"
	"github.com/gokernel/gokernel/sys"
)

func main() {
	k, err := sys.Init()
	if err != nil {
		fmt.Fprintln(os.Stderr, "retarget:", err)
		os.Exit(2)
	}
	var u unix.Utsname
	if err := libgo.Uname(&u); err != nil {
		fmt.Fprintln(os.Stderr, "retarget: uname:", err)
		os.Exit(1)
	}
	fmt.Printf("kernel %s: %s %s\n", k.Name(), unix.ByteSliceToString(u.Sysname[:]), unix.ByteSliceToString(u.Release[:]))
	if err := sys.Shutdown(); err != nil {
		fmt.Fprintln(os.Stderr, "retarget: shutdown:", err)
		os.Exit(1)
	}
}
