package lvm

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/gokernel/gokernel/disk"
)

// Scan reads the PVs on devs (ReadPV; devices without a label are
// skipped) and assembles their VGs (Assemble).
func Scan(devs ...disk.Device) ([]*VG, error) {
	var pvs []*PV
	var errs []error
	for i, d := range devs {
		pv, err := ReadPV(d)
		switch {
		case errors.Is(err, ErrNoPV):
		case err != nil:
			errs = append(errs, fmt.Errorf("device %d: %w", i, err))
		default:
			pvs = append(pvs, pv)
		}
	}
	vgs, err := Assemble(pvs)
	return vgs, errors.Join(append(errs, err)...)
}

// Assemble groups PVs into their VGs. Each VG is read from the newest of
// its metadata copies (the highest seqno) whose checksum is right; the
// others, damaged or older, are named in the VG's Warnings. A PV of the
// VG that is not among pvs is listed with a nil VGPV.PV, and the LVs
// with extents on it cannot be opened. The error joins the problems that
// leave a PV without a VG (every copy of its metadata damaged); the VGs
// found are returned with it.
func Assemble(pvs []*PV) ([]*VG, error) {
	type copyOf struct {
		pv *PV
		m  *Metadata
	}
	byName := map[string][]copyOf{}
	for _, pv := range pvs {
		for i := range pv.Metadata {
			if m := &pv.Metadata[i]; m.Err == nil {
				byName[m.VGName] = append(byName[m.VGName], copyOf{pv, m})
			}
		}
	}
	var vgs []*VG
	inVG := map[*PV]bool{}
	for _, name := range slices.Sorted(maps.Keys(byName)) {
		copies := byName[name]
		slices.SortStableFunc(copies, func(a, b copyOf) int { return cmp.Compare(b.m.Seqno, a.m.Seqno) })
		var vg *VG
		var perr error
		for _, c := range copies {
			if vg, perr = parseVG(c.m.Text); perr == nil {
				break
			}
		}
		if vg == nil {
			return vgs, fmt.Errorf("lvm: VG %s: no metadata copy parses: %w", name, perr)
		}
		for _, p := range vg.PVs {
			for _, pv := range pvs {
				if pv.UUID == p.UUID {
					p.PV, inVG[pv] = pv, true
				}
			}
			if p.PV == nil {
				vg.Warnings = append(vg.Warnings, fmt.Sprintf("PV %s (%s) is missing", p.Name, p.UUID))
			}
		}
		for _, p := range vg.PVs {
			if p.PV == nil {
				continue
			}
			for _, m := range p.PV.Metadata {
				switch {
				case m.Err != nil:
					vg.Warnings = append(vg.Warnings, fmt.Sprintf("PV %s: %v", p.Name, m.Err))
				case m.Seqno < vg.Seqno:
					vg.Warnings = append(vg.Warnings, fmt.Sprintf("PV %s: metadata area at %d holds an older copy (seqno %d, the VG's is %d)", p.Name, m.Area.Offset, m.Seqno, vg.Seqno))
				}
			}
		}
		vg.check()
		vgs = append(vgs, vg)
	}
	var errs []error
	for _, pv := range pvs {
		if inVG[pv] {
			continue
		}
		for _, m := range pv.Metadata {
			if m.Err != nil && !errors.Is(m.Err, errNoVG) {
				errs = append(errs, fmt.Errorf("PV %s: %w", pv.UUID, m.Err))
			}
		}
	}
	return vgs, errors.Join(errs...)
}
