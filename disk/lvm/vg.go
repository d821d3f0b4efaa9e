package lvm

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gokernel/gokernel/disk"
)

// A VG is a volume group: its PVs (found or missing) and its LVs, read
// from the newest metadata of its PVs.
type VG struct {
	Name  string
	UUID  string
	Seqno int64
	// ExtentSize is the size of a physical extent, in bytes.
	ExtentSize int64
	PVs        []*VGPV
	LVs        []*LV
	// Warnings say what is wrong but did not stop the VG from being
	// read: a damaged metadata copy, a missing PV.
	Warnings []string
}

// A VGPV is a PV as the VG's metadata lists it.
type VGPV struct {
	Name string // the metadata's name for it: "pv0", "pv1", …
	UUID string
	// PEStart is the offset of the first physical extent, in bytes.
	PEStart int64
	PECount int64
	// PV is the PV found with this UUID, nil if none of the devices
	// given holds it.
	PV *PV
}

// An LV is a logical volume.
type LV struct {
	Name, UUID string
	// Size is in bytes: the extents of its segments.
	Size int64
	// Status is the metadata's status flags ("READ", "WRITE",
	// "VISIBLE").
	Status []string
	// Visible is false for LVM's internal LVs (a thin pool's data and
	// metadata, a snapshot's COW store, RAID images); they are listed
	// but have no /dev/vg/lv name.
	Visible  bool
	Segments []Segment

	vg      *VG
	why     error  // why it cannot be opened, nil if it can
	origins string // the snapshots of which it is the origin
	cowOf   string // the snapshot whose COW store it is
}

// A Segment is a run of an LV's extents.
type Segment struct {
	StartExtent, ExtentCount int64
	// Type is the segment type: "striped" (linear is striped with one
	// stripe), "thin-pool", "thin", "snapshot", "cache", "raid1", …
	Type string
	// StripeSize is the stripe (chunk) size in bytes of a striped
	// segment of more than one stripe.
	StripeSize int64
	// Stripes are the PV extents a striped segment maps to.
	Stripes []Stripe
	// Origin and COWStore are a snapshot segment's origin LV and the
	// LV holding its copied-on-write chunks.
	Origin, COWStore string
}

// A Stripe is where one stripe of a segment lives: the PV (by the
// metadata's name) and its first extent there.
type Stripe struct {
	PV          string
	StartExtent int64
}

// SegTypes lists the LV's segment types, as lvs -o segtype prints them
// ("linear" for a striped segment of one stripe).
func (lv *LV) SegTypes() []string {
	var out []string
	for _, s := range lv.Segments {
		t := s.Type
		if t == "striped" && len(s.Stripes) == 1 {
			t = "linear"
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// Supported is nil if Open can open the LV, else an error saying why not.
func (lv *LV) Supported() error { return lv.why }

// ReadOnly reports whether Open opens the LV read-only: the origin of a
// snapshot is, since writing it without copying the old data to the
// snapshot (the kernel's snapshot-origin target) would corrupt the
// snapshot.
func (lv *LV) ReadOnly() bool { return lv.origins != "" }

// ErrUnsupported is wrapped by the error of an LV that gokernel cannot
// open (a thin, snapshot, cache, RAID, mirror or VDO LV).
var ErrUnsupported = errors.ErrUnsupported

// supportedTypes are the segment types Open maps in Go.
var supportedTypes = []string{"striped"}

// Open returns the LV as a device: its segments' extents, read from and
// written to its PVs. It fails, wrapping ErrUnsupported, for an LV with a
// segment type other than linear or striped, and for one with extents on
// a PV that was not found.
func (lv *LV) Open() (disk.Device, error) {
	if lv.why != nil {
		return nil, lv.why
	}
	ext := lv.vg.ExtentSize
	var pieces []disk.Device
	for _, s := range lv.Segments {
		var stripes []disk.Device
		per := s.ExtentCount / int64(len(s.Stripes))
		for _, st := range s.Stripes {
			pv := lv.vg.pv(st.PV)
			stripes = append(stripes, disk.Slice(pv.PV.Device, pv.PEStart+st.StartExtent*ext, per*ext))
		}
		if len(stripes) == 1 {
			pieces = append(pieces, stripes[0])
			continue
		}
		d, err := disk.Stripe(s.StripeSize, stripes...)
		if err != nil {
			return nil, fmt.Errorf("lvm: %s/%s: segment at extent %d: %w", lv.vg.Name, lv.Name, s.StartExtent, err)
		}
		pieces = append(pieces, d)
	}
	var d disk.Device
	if len(pieces) == 1 {
		d = pieces[0]
	} else {
		d = disk.Concat(pieces...)
	}
	if lv.ReadOnly() {
		d = readOnly{d}
	}
	return d, nil
}

// readOnly refuses writes to a device.
type readOnly struct{ disk.Device }

func (r readOnly) WriteAt(p []byte, off int64) (int, error) {
	return 0, fmt.Errorf("lvm: write at %d: %w", off, disk.ErrReadOnly)
}
func (r readOnly) ReadOnly() bool { return true }

// Under returns the LV's device (disk.Stacked), so that disk.IsLocal sees
// through the wrapper.
func (r readOnly) Under() []disk.Device { return []disk.Device{r.Device} }

func (vg *VG) pv(name string) *VGPV {
	for _, p := range vg.PVs {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// snapshotOrigin is the origin of the snapshot LV named snap.
func (vg *VG) snapshotOrigin(snap string) string {
	for _, s := range vg.LV(snap).Segments {
		if s.Type == "snapshot" {
			return s.Origin
		}
	}
	return ""
}

// LV returns the LV of that name, or nil.
func (vg *VG) LV(name string) *LV {
	for _, lv := range vg.LVs {
		if lv.Name == name {
			return lv
		}
	}
	return nil
}

// vgSection finds the VG's section in parsed metadata: the one top-level
// section (the rest of the top level is contents, version, description,
// creation_host and creation_time).
func vgSection(root *section) (*section, error) {
	if len(root.sections) != 1 {
		return nil, fmt.Errorf("metadata has %d top-level sections, want one volume group", len(root.sections))
	}
	if c, ok := root.values["contents"]; ok && c.s != "Text Format Volume Group" {
		return nil, fmt.Errorf("metadata contents %q, want a Text Format Volume Group", c.s)
	}
	return root.sections[0], nil
}

// parseVG reads a VG from metadata text.
func parseVG(text []byte) (*VG, error) {
	root, err := parseConfig(text)
	if err != nil {
		return nil, err
	}
	s, err := vgSection(root)
	if err != nil {
		return nil, fmt.Errorf("lvm: %w", err)
	}
	vg, err := readVG(s)
	if err != nil {
		return nil, fmt.Errorf("lvm: VG %s: %w", s.name, err)
	}
	return vg, nil
}

// maxExtentSize bounds extent_size (in sectors): LVM's limit is 16 GiB
// (lvm2's MAX_EXTENT_SIZE... is 2^32 sectors); anything larger is damage.
const maxExtentSize = 1 << 32

func readVG(s *section) (*VG, error) {
	vg := &VG{Name: s.name}
	var err error
	if vg.UUID, err = s.str("id"); err != nil {
		return nil, err
	}
	if vg.Seqno, err = s.int("seqno"); err != nil {
		return nil, err
	}
	ext, err := s.int("extent_size")
	if err != nil {
		return nil, err
	}
	if ext <= 0 || ext > maxExtentSize {
		return nil, fmt.Errorf("extent_size %d sectors", ext)
	}
	vg.ExtentSize = ext * 512
	if pvs := s.sub("physical_volumes"); pvs != nil {
		for _, p := range pvs.sections {
			v := &VGPV{Name: p.name}
			if v.UUID, err = p.str("id"); err != nil {
				return nil, err
			}
			start, err := p.int("pe_start")
			if err != nil {
				return nil, err
			}
			if v.PECount, err = p.int("pe_count"); err != nil {
				return nil, err
			}
			if start < 0 || start > 1<<50 || v.PECount < 0 || v.PECount > (1<<62)/vg.ExtentSize {
				return nil, fmt.Errorf("%s: pe_start %d, pe_count %d", p.name, start, v.PECount)
			}
			v.PEStart = start * 512
			vg.PVs = append(vg.PVs, v)
		}
	}
	if lvs := s.sub("logical_volumes"); lvs != nil {
		for _, l := range lvs.sections {
			lv, err := vg.readLV(l)
			if err != nil {
				return nil, fmt.Errorf("LV %s: %w", l.name, err)
			}
			vg.LVs = append(vg.LVs, lv)
		}
	}
	return vg, nil
}

func (vg *VG) readLV(l *section) (*LV, error) {
	lv := &LV{Name: l.name, vg: vg}
	var err error
	if lv.UUID, err = l.str("id"); err != nil {
		return nil, err
	}
	if lv.Status, err = l.strs("status"); err != nil {
		return nil, err
	}
	lv.Visible = slices.Contains(lv.Status, "VISIBLE")
	for _, sec := range l.sections {
		if !strings.HasPrefix(sec.name, "segment") {
			continue
		}
		s, err := vg.readSegment(sec)
		if err != nil {
			return nil, err
		}
		lv.Segments = append(lv.Segments, s)
	}
	slices.SortFunc(lv.Segments, func(a, b Segment) int { return cmp.Compare(a.StartExtent, b.StartExtent) })
	var next int64
	for _, s := range lv.Segments {
		if s.StartExtent != next {
			return nil, fmt.Errorf("segment at extent %d follows extent %d", s.StartExtent, next)
		}
		next += s.ExtentCount
	}
	if next > (1<<62)/vg.ExtentSize {
		return nil, fmt.Errorf("%d extents", next)
	}
	lv.Size = next * vg.ExtentSize
	return lv, nil
}

func (vg *VG) readSegment(sec *section) (Segment, error) {
	var s Segment
	var err error
	bad := func(err error) (Segment, error) { return Segment{}, fmt.Errorf("%s: %w", sec.name, err) }
	if s.StartExtent, err = sec.int("start_extent"); err != nil {
		return bad(err)
	}
	if s.ExtentCount, err = sec.int("extent_count"); err != nil {
		return bad(err)
	}
	if s.StartExtent < 0 || s.ExtentCount <= 0 || s.StartExtent > 1<<40 || s.ExtentCount > 1<<40 {
		return bad(fmt.Errorf("extents %d+%d", s.StartExtent, s.ExtentCount))
	}
	if s.Type, err = sec.str("type"); err != nil {
		return bad(err)
	}
	if o, ok := sec.values["origin"]; ok && o.kind == 's' {
		s.Origin = o.s
	}
	if c, ok := sec.values["cow_store"]; ok && c.kind == 's' {
		s.COWStore = c.s
	}
	if s.Type != "striped" {
		return s, nil
	}
	n, err := sec.int("stripe_count")
	if err != nil {
		return bad(err)
	}
	v := sec.values["stripes"]
	if v.kind != 'l' || n <= 0 || int64(len(v.list)) != 2*n || s.ExtentCount%n != 0 {
		return bad(fmt.Errorf("stripe_count %d, %d extents and a stripes list of %d values do not agree", n, s.ExtentCount, len(v.list)))
	}
	for i := 0; i < len(v.list); i += 2 {
		pv, ext := v.list[i], v.list[i+1]
		if pv.kind != 's' || ext.kind != 'i' || ext.i < 0 {
			return bad(fmt.Errorf("stripes (line %d): want \"pvN\", extent pairs", v.line))
		}
		s.Stripes = append(s.Stripes, Stripe{PV: pv.s, StartExtent: ext.i})
	}
	if n > 1 {
		ss, err := sec.int("stripe_size")
		if err != nil {
			return bad(err)
		}
		if ss <= 0 || ss > 1<<30 || (s.ExtentCount/n*vg.ExtentSize)%(ss*512) != 0 {
			return bad(fmt.Errorf("stripe_size %d sectors", ss))
		}
		s.StripeSize = ss * 512
	}
	return s, nil
}

// check decides which LVs can be opened, and marks the origins of
// snapshots read-only.
func (vg *VG) check() {
	for _, lv := range vg.LVs {
		for _, s := range lv.Segments {
			if s.Type != "snapshot" {
				continue
			}
			if o := vg.LV(s.Origin); o != nil {
				o.origins = strings.TrimPrefix(o.origins+", "+lv.Name, ", ")
			}
			if c := vg.LV(s.COWStore); c != nil {
				c.cowOf = lv.Name
			}
		}
	}
	for _, lv := range vg.LVs {
		lv.why = vg.whyNot(lv)
	}
}

func (vg *VG) whyNot(lv *LV) error {
	if lv.cowOf != "" {
		// LVM names the snapshot after its COW store: the LV users
		// know as the snapshot holds only the chunks changed since.
		return fmt.Errorf("lvm: %s/%s is a snapshot LV (of %s), which gokernel cannot open (it holds only the changed chunks; reading it needs the kernel's device mapper): %w",
			vg.Name, lv.Name, vg.LV(vg.snapshotOrigin(lv.cowOf)).Name, ErrUnsupported)
	}
	for _, s := range lv.Segments {
		if !slices.Contains(supportedTypes, s.Type) {
			return fmt.Errorf("lvm: %s/%s is a %s LV, which gokernel cannot open (it maps linear and striped LVs only; %s needs the kernel's device mapper): %w",
				vg.Name, lv.Name, s.Type, s.Type, ErrUnsupported)
		}
		for _, st := range s.Stripes {
			pv := vg.pv(st.PV)
			switch {
			case pv == nil:
				return fmt.Errorf("lvm: %s/%s: its metadata names PV %q, which the VG does not list", vg.Name, lv.Name, st.PV)
			case pv.PV == nil:
				return fmt.Errorf("lvm: %s/%s has extents on PV %s (%s), which is missing: give the image that holds it", vg.Name, lv.Name, pv.Name, pv.UUID)
			case st.StartExtent+s.ExtentCount/int64(len(s.Stripes)) > pv.PECount:
				return fmt.Errorf("lvm: %s/%s: extents %d+%d are past the %d extents of PV %s", vg.Name, lv.Name, st.StartExtent, s.ExtentCount/int64(len(s.Stripes)), pv.PECount, pv.Name)
			case pv.PEStart+(st.StartExtent+s.ExtentCount/int64(len(s.Stripes)))*vg.ExtentSize > pv.PV.Device.Size():
				return fmt.Errorf("lvm: %s/%s: extents %d+%d of PV %s are past the end of its device (%d bytes): the image is cut short", vg.Name, lv.Name, st.StartExtent, s.ExtentCount/int64(len(s.Stripes)), pv.Name, pv.PV.Device.Size())
			}
		}
	}
	return nil
}
