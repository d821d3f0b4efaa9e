package part_test

import (
	"fmt"
	"log"

	"github.com/gokernel/gokernel/disk"
	"github.com/gokernel/gokernel/disk/part"
)

// Example lists a disk's partitions and opens one as a device.
func Example() {
	// An MBR with one Linux partition from sector 2048 to the end.
	d := disk.NewMemory(8 << 20)
	mbr := make([]byte, 512)
	e := mbr[446:]
	e[4] = 0x83
	e[8], e[9] = 0x00, 0x08 // start: sector 2048
	size := uint32(8<<20/512 - 2048)
	e[12], e[13], e[14], e[15] = byte(size), byte(size>>8), byte(size>>16), byte(size>>24)
	mbr[510], mbr[511] = 0x55, 0xaa
	d.WriteAt(mbr, 0)

	tab, err := part.Read(d)
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range tab.Partitions {
		fmt.Printf("%s partition %d: %s (%s), %d bytes at %d\n", tab.Kind, p.Number, p.Type, p.TypeName, p.Size, p.Start)
	}
	dev := tab.Partitions[0].Device(d)
	fmt.Println(dev.Size())
	// Output:
	// mbr partition 1: 0x83 (Linux), 7340032 bytes at 1048576
	// 7340032
}
