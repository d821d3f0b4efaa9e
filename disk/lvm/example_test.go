package lvm_test

import (
	"fmt"
	"log"

	"github.com/gokernel/gokernel/disk/lvm"
)

// Example finds a VG on a device, lists its LVs and opens one.
func Example() {
	pv := memPV(32<<20, examplePVUUID, 1<<20, 512, exampleText)
	pv.WriteAt([]byte("root's first bytes"), 1<<20+4<<20) // extent 1

	vgs, err := lvm.Scan(pv)
	if err != nil {
		log.Fatal(err)
	}
	for _, lv := range vgs[0].LVs {
		fmt.Println(lv, lv.Size, lv.SegTypes(), lv.Supported() == nil)
	}
	root := lvm.Find(vgs, "/dev/mapper/vg0-root")
	d, err := root.Open()
	if err != nil {
		log.Fatal(err)
	}
	p := make([]byte, 18)
	d.ReadAt(p, 0)
	fmt.Printf("%q\n", p)
	_, err = lvm.Find(vgs, "vg0/pool").Open()
	fmt.Println(err)
	// Output:
	// vg0/root 8388608 [linear] true
	// vg0/pool 4194304 [thin-pool] false
	// "root's first bytes"
	// lvm: vg0/pool is a thin-pool LV, which gokernel cannot open (it maps linear and striped LVs only; thin-pool needs the kernel's device mapper): unsupported operation
}
