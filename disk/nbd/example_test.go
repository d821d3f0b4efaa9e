package nbd_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/gokernel/gokernel/disk/nbd"
)

// Open a vmdk through qemu-nbd and read its first sector. Start the
// server first, for example:
//
//	qemu-nbd --socket=/tmp/nbd.sock --format=vmdk --export-name=disk --read-only disk.vmdk
//
// (The example is compiled but not run: it needs that server. The tests
// run the same calls against qemu-nbd and nbdkit.)
func ExampleDial() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := nbd.Dial(ctx, "nbd+unix:///disk?socket=/tmp/nbd.sock", nbd.Options{Timeout: 30 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()
	mbr := make([]byte, 512)
	if _, err := d.ReadAt(mbr, 0); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d bytes, read-only %v, boot signature %x\n", d.Size(), d.ReadOnly(), mbr[510:])
}
