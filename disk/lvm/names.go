package lvm

import (
	"fmt"
	"strings"
)

// Names lists the names an LV is known by: "vg/lv", "/dev/vg/lv" and
// "/dev/mapper/vg-lv" (where the device mapper doubles each dash inside
// vg and lv, so that the one dash between them stands out).
func (lv *LV) Names() []string {
	return []string{lv.vg.Name + "/" + lv.Name, "/dev/" + lv.vg.Name + "/" + lv.Name, "/dev/mapper/" + lv.MapperName()}
}

// MapperName is the LV's device-mapper name, "vg-lv" with the dashes of
// vg and lv doubled ("my-vg/root" is "my--vg-root").
func (lv *LV) MapperName() string {
	return strings.ReplaceAll(lv.vg.Name, "-", "--") + "-" + strings.ReplaceAll(lv.Name, "-", "--")
}

// VG returns the LV's volume group.
func (lv *LV) VG() *VG { return lv.vg }

// Find returns the LV that name names in vgs: "vg/lv", "/dev/vg/lv" or
// "/dev/mapper/vg-lv" (see LV.Names). It returns nil if none has that name.
func Find(vgs []*VG, name string) *LV {
	for _, vg := range vgs {
		for _, lv := range vg.LVs {
			for _, n := range lv.Names() {
				if n == name {
					return lv
				}
			}
		}
	}
	return nil
}

// String is "vg/lv".
func (lv *LV) String() string { return fmt.Sprintf("%s/%s", lv.vg.Name, lv.Name) }
