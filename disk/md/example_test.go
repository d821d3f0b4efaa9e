package md_test

import (
	"fmt"
	"log"

	"github.com/gokernel/gokernel/disk"
	"github.com/gokernel/gokernel/disk/md"
)

// Example assembles a raid1 array from its two members and reads it.
func Example() {
	var members []*md.Member
	for role := range 2 {
		d := disk.NewMemory(16 << 20)
		s := layout("1.2", 1)
		s.Role = role
		b, off := s.Bytes(d.Size())
		d.WriteAt(b, off)
		d.WriteAt([]byte("mirrored"), s.DataOffset)
		m, err := md.ReadMember(d)
		if err != nil {
			log.Fatal(err)
		}
		members = append(members, m)
	}
	arrays := md.Assemble(members)
	a := md.Find(arrays, "/dev/md0")
	dev, err := a.Open()
	if err != nil {
		log.Fatal(err)
	}
	p := make([]byte, 8)
	dev.ReadAt(p, 0)
	fmt.Println(a.Name(), a.Version, a.Level, a.UUID, dev.Size(), string(p))
	// Output: md0 1.2 raid1 11223344:55667788:99aabbcc:ddeeff00 8388608 mirrored
}
