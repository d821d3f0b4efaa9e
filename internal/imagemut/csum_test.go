package imagemut

import (
	"bytes"
	"testing"

	"github.com/gokernel/gokernel/disk"
	"github.com/gokernel/gokernel/internal/imagetest"
)

// TestChecksums recomputes the checksum of every located structure that
// has one on fresh images: it must be the one mkfs wrote, or a refresh
// after a mutation would write a wrong one.
func TestChecksums(t *testing.T) {
	for _, fstype := range FSTypes {
		t.Run(fstype, func(t *testing.T) {
			img := imagetest.Build(t, fstype, imagetest.Tree{"a/": "", "a/b.txt": "b\n", "c.txt": "c\n"})
			d, err := disk.OpenFile(img, true)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			l, err := Locate(d)
			if err != nil {
				t.Fatal(err)
			}
			checked := map[string]int{}
			for _, r := range l.Regions {
				if r.csum == csumNone {
					continue
				}
				buf := make([]byte, r.Len)
				if _, err := d.ReadAt(buf, r.Off); err != nil {
					t.Fatal(err)
				}
				orig := bytes.Clone(buf)
				for _, c := range checksum(&r, buf) {
					if stored := orig[c.at : c.at+len(c.data)]; !bytes.Equal(c.data, stored) {
						t.Errorf("%s at %d: checksum at +%d %x, mkfs wrote %x", r.Kind, r.Off, c.at, c.data, stored)
					}
				}
				checked[r.Kind]++
			}
			if fstype != "vfat" && len(checked) == 0 {
				t.Errorf("no checksummed structure found")
			}
			t.Logf("checked %v", checked)
		})
	}
}
