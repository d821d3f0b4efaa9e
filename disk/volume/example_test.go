package volume_test

import (
	"fmt"
	"log"

	"github.com/gokernel/gokernel/disk"
	"github.com/gokernel/gokernel/disk/volume"
	"github.com/gokernel/gokernel/internal/imagetest"
)

// Example opens a volume by name from the disks of one configuration
// entry: here an MD raid1 array (metadata 1.2) of two members.
func Example() {
	var devs []disk.Device
	for role := range 2 {
		d := disk.NewMemory(16 << 20)
		sb := imagetest.MDSuperblock{Version: "1.2", Level: 1, RaidDisks: 2, Role: role, Name: "host:0", Events: 1, DataOffset: 1 << 20, DataSize: 8 << 20}
		b, off := sb.Bytes(d.Size())
		d.WriteAt(b, off)
		d.WriteAt([]byte("hello"), 1<<20)
		devs = append(devs, d)
	}
	fmt.Println(volume.Scan(devs...).Names())

	dev, err := volume.Open(devs, "/dev/md0")
	if err != nil {
		log.Fatal(err)
	}
	p := make([]byte, 5)
	dev.ReadAt(p, 0)
	fmt.Println(dev.Size(), string(p))

	_, err = volume.Open(devs, "vg/root")
	fmt.Println(err)
	// Output:
	// [md0 (MD raid1)]
	// 8388608 hello
	// volume: no volume "vg/root": there are: md0 (MD raid1)
}
