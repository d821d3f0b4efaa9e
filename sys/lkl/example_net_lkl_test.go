//go:build lkl

package lkl_test

import (
	"fmt"
	"net/http"

	"github.com/gokernel/gokernel/sys/lkl"
	"github.com/gokernel/gokernel/sys/lkl/usernet"
)

// Boot LKL on a rootless user network and forward a host port to port 80
// inside LKL (where a server listens on LKL's sockets). Not run: LKL boots
// once per process.
func ExampleKernel_Forward() {
	k, err := lkl.Boot(&lkl.Config{
		Interfaces: []lkl.Interface{{Type: "user"}}, // 10.0.2.15, gateway 10.0.2.2
	})
	if err != nil {
		panic(err)
	}
	defer k.Halt()
	addr, err := k.Forward(usernet.Forward{Network: "tcp", Host: "127.0.0.1:0", GuestPort: 80})
	if err != nil {
		panic(err)
	}
	fmt.Println("http://" + addr.String() + "/")
	_, _ = http.Get("http://" + addr.String() + "/")
}

// The same forward from the configuration; Kernel.Forwards reports the
// ports picked for port 0.
func ExampleKernel_Forwards() {
	cfg, err := lkl.ParseConfig([]byte(`{
	  "interfaces": [{"type": "user"}],
	  "forward": ["tcp:127.0.0.1:0:80"]
	}`))
	if err != nil {
		panic(err)
	}
	k, err := lkl.Boot(cfg)
	if err != nil {
		panic(err)
	}
	defer k.Halt()
	fmt.Println(k.Forwards()[0])
}
