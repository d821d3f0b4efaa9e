package qcow2_test

import (
	"errors"
	"fmt"
	"log"

	"github.com/gokernel/gokernel/disk/qcow2"
)

// ExampleOpen reads the first sector of a qcow2 image's disk, through its
// backing chain if it has one.
func ExampleOpen() {
	img, err := qcow2.Open("cloud.qcow2", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer img.Close()
	mbr := make([]byte, 512)
	if _, err := img.ReadAt(mbr, 0); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d-byte disk, qcow2 v%d, backing file %q, boot signature %x\n", img.Size(), img.Version(), img.BackingFile(), mbr[510:])
}

// ExampleFormatError tells a malformed image from an unsupported one.
func ExampleFormatError() {
	_, err := qcow2.Open("disk.qcow2", nil)
	var fe *qcow2.FormatError
	switch {
	case errors.Is(err, errors.ErrUnsupported):
		fmt.Println("uses a feature this reader lacks:", err)
	case errors.As(err, &fe):
		fmt.Println("malformed", fe.Field, err)
	}
}
