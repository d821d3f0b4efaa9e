package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/gokernel/gokernel/disk"
	"github.com/gokernel/gokernel/disk/fsprobe"
	"github.com/gokernel/gokernel/disk/qcow2"
	"github.com/gokernel/gokernel/disk/remote"
	"github.com/gokernel/gokernel/disk/volume"
	"github.com/gokernel/gokernel/internal/cli"
)

func init() {
	var format string
	var asJSON bool
	register(&cli.Command{
		Name:    "info",
		Args:    "[flags] IMAGE",
		Summary: "show what a disk image holds: format, partitions, volumes, file systems and whether LKL mounts them",
		Help: `info reads the image in Go and boots no kernel (it works in a build
without LKL): its format and size (as qemu-img info), its partition table
(as sfdisk), and for the disk or each partition what it holds (as blkid
and lsblk -f): file system type, label, UUID, size, feature flags, and
whether Linux 4.9 (LKL's kernel) mounts it, read-write, read-only only,
or not at all, with the mkfs options that make a compatible image.

IMAGE is a file or block device, or a URL (http://, https://, nbd://,
nbd+unix://), raw or qcow2 (--format says which; the default detects it).
--json prints one JSON object (docs/inspect.md describes its keys).`,
		NoKernel: true,
		Setup: func(fs *flag.FlagSet) func([]string) error {
			fs.StringVar(&format, "format", "", "the image's `format`: raw or qcow2 (default: detect)")
			fs.BoolVar(&asJSON, "json", false, "print JSON for scripts")
			return func(args []string) error {
				args, err := cli.ParseAfterFirst(fs, args)
				if err != nil {
					return err
				}
				if len(args) != 1 {
					return fmt.Errorf("%w: info takes one image", errUsage)
				}
				info, err := inspect(args[0], format)
				if err != nil {
					return err
				}
				if asJSON {
					enc := json.NewEncoder(out.W)
					enc.SetIndent("", "  ")
					return enc.Encode(info)
				}
				return info.print(out.W)
			}
		},
	})
}

// Info is what demo info finds in an image; --json prints it. Its keys
// are stable: a script may rely on them (docs/inspect.md).
type Info struct {
	Image string `json:"image"` // as given
	// Format is "raw" or "qcow2"; FormatVersion is qcow2's "0.10" (v2)
	// or "1.1" (v3), as qemu-img's compat.
	Format        string `json:"format"`
	FormatVersion string `json:"format_version,omitempty"`
	// VirtualSize is the disk's size in bytes; ImageSize the image
	// file's (or URL's), which for raw is the same.
	VirtualSize int64 `json:"virtual_size"`
	ImageSize   int64 `json:"image_size"`
	// BackingFile is a qcow2 image's backing file, as its header names it.
	BackingFile string `json:"backing_file,omitempty"`
	// Content is what the whole disk holds (fsprobe.Result), absent when
	// nothing is recognised there.
	Content *fsprobe.Result `json:"content,omitempty"`
	// PartitionTable is the disk's partition table, if any.
	PartitionTable *Table `json:"partition_table,omitempty"`
	// Volumes are the LVM logical volumes and MD arrays found on the
	// disk and its partitions (disk/volume), with what each holds.
	Volumes []Volume `json:"volumes,omitempty"`
	// Warnings are what was wrong but did not stop the inspection (a
	// damaged primary GPT header, a table that cannot be read, damaged
	// LVM metadata, a degraded array).
	Warnings []string `json:"warnings,omitempty"`
}

// Volume is an LVM logical volume or an MD array in Info.
type Volume struct {
	Kind string `json:"kind"` // "lvm" or "md"
	// Name is what --volume (config "volume") takes: "vg/lv", or the
	// array's name ("md0", or its 1.x name).
	Name string `json:"name"`
	UUID string `json:"uuid,omitempty"`
	Size int64  `json:"size"` // bytes
	// Type is the LV's segment types ("linear", "striped", "thin", …,
	// joined by "+") or the array's level ("raid1").
	Type string `json:"type"`
	// Error says why gokernel cannot open the volume ("" if it can).
	Error string `json:"error,omitempty"`
	// Content is what the volume holds, absent when nothing is
	// recognised or it cannot be opened.
	Content *fsprobe.Result `json:"content,omitempty"`
}

// Table is a partition table in Info.
type Table struct {
	Kind       string      `json:"kind"`    // "gpt" or "mbr"
	DiskID     string      `json:"disk_id"` // GPT disk GUID or MBR signature (as sfdisk --json's "id")
	SectorSize int         `json:"sector_size"`
	Partitions []Partition `json:"partitions"`
}

// Partition is a partition in Info: disk/part's fields, in bytes, and
// what it holds.
type Partition struct {
	Number   int    `json:"number"`
	Start    int64  `json:"start"` // bytes from the start of the disk
	Size     int64  `json:"size"`  // bytes
	Type     string `json:"type"`  // GPT type GUID or MBR type ("0x83")
	TypeName string `json:"type_name,omitempty"`
	Name     string `json:"name,omitempty"` // GPT partition name
	UUID     string `json:"uuid,omitempty"` // GPT partition GUID, or MBR PARTUUID
	Bootable bool   `json:"bootable,omitempty"`
	// Content is what the partition holds, absent when nothing is
	// recognised; Error says why it could not be read.
	Content *fsprobe.Result `json:"content,omitempty"`
	Error   string          `json:"error,omitempty"`
}

// inspect opens the image read-only and gathers its Info.
func inspect(path, format string) (*Info, error) {
	spec := disk.Spec{Path: path, Format: format, ReadOnly: true, Sources: remote.Sources()}
	dev, err := disk.Open(spec)
	if err != nil {
		return nil, imageOpenErr(err)
	}
	defer closeDev(dev)
	info := &Info{Image: path, VirtualSize: dev.Size()}
	if err := info.readFormat(spec); err != nil {
		return nil, err
	}
	l, err := fsprobe.ProbeLayout(dev)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	info.Content = l.Whole
	if l.TableErr != nil {
		info.Warnings = append(info.Warnings, l.TableErr.Error())
	}
	if t := l.Table; t != nil {
		info.Warnings = append(info.Warnings, t.Warnings...)
		info.PartitionTable = &Table{Kind: t.Kind, DiskID: t.DiskID, SectorSize: t.SectorSize, Partitions: []Partition{}}
		for _, p := range l.Partitions {
			ip := Partition{Number: p.Number, Start: p.Start, Size: p.Size, Type: p.Type, TypeName: p.TypeName, Name: p.Name, UUID: p.UUID, Bootable: p.Bootable, Content: p.Content}
			if p.Err != nil && !errors.Is(p.Err, fsprobe.ErrUnknown) {
				ip.Error = p.Err.Error()
			}
			info.PartitionTable.Partitions = append(info.PartitionTable.Partitions, ip)
		}
	}
	info.scanVolumes(dev)
	return info, nil
}

// scanVolumes fills in Volumes: the LVs and arrays disk/volume finds on
// dev, each probed for what it holds.
func (info *Info) scanVolumes(dev disk.Device) {
	rep := volume.Scan(dev)
	for _, p := range rep.Problems {
		info.Warnings = append(info.Warnings, p.Error())
	}
	add := func(v Volume, why error, open func() (disk.Device, error)) {
		if why == nil {
			d, err := open()
			if err == nil {
				if v.Size == 0 {
					v.Size = d.Size()
				}
				v.Content, _ = fsprobe.Probe(d)
			}
			why = err
		}
		if why != nil {
			v.Error = why.Error()
		}
		info.Volumes = append(info.Volumes, v)
	}
	for _, vg := range rep.VGs {
		for _, w := range vg.Warnings {
			info.Warnings = append(info.Warnings, "VG "+vg.Name+": "+w)
		}
		for _, lv := range vg.LVs {
			if lv.Visible {
				add(Volume{Kind: "lvm", Name: lv.String(), UUID: lv.UUID, Size: lv.Size, Type: strings.Join(lv.SegTypes(), "+")}, lv.Supported(), lv.Open)
			}
		}
	}
	for _, a := range rep.Arrays {
		for _, w := range a.Warnings {
			info.Warnings = append(info.Warnings, "array "+a.Name()+": "+w)
		}
		v := Volume{Kind: "md", Name: a.Name(), UUID: a.UUID, Type: a.Level}
		add(v, a.Supported(), a.Open)
	}
}

// readFormat fills in the format fields: the source's own bytes (the
// file or URL, as raw) say whether it is qcow2, and the qcow2 header its
// version and backing file.
func (info *Info) readFormat(spec disk.Spec) error {
	spec.Format = "raw"
	src, err := disk.Open(spec)
	if err != nil {
		return imageOpenErr(err)
	}
	defer closeDev(src)
	info.ImageSize = src.Size()
	var magic [4]byte
	if n, _ := src.ReadAt(magic[:], 0); n < len(magic) || string(magic[:]) != qcow2.Magic {
		info.Format = "raw"
		return nil
	}
	info.Format = "qcow2"
	// As disk.Open does: a file by its path, so that its backing files
	// are found beside it; a URL's bytes (which may have none).
	var img *qcow2.Image
	if strings.Contains(spec.Path, "://") {
		img, err = qcow2.New(src, src.Size(), nil)
	} else {
		img, err = qcow2.Open(spec.Path, nil)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", spec.Path, err)
	}
	defer img.Close()
	info.FormatVersion = map[int]string{2: "0.10", 3: "1.1"}[img.Version()]
	info.BackingFile = img.BackingFile()
	return nil
}

// imageOpenErr drops disk.Open's "path: " key: the path's own error
// names the file or URL.
func imageOpenErr(err error) error {
	if inner := errors.Unwrap(err); inner != nil && strings.HasPrefix(err.Error(), "path: ") {
		return inner
	}
	return err
}

func closeDev(d disk.Device) {
	if c, ok := d.(io.Closer); ok {
		c.Close()
	}
}

// print writes info as text: the image, then a table of the disk's
// contents (one row per partition), then the features and verdicts of
// each file system.
func (info *Info) print(w io.Writer) error {
	fmt.Fprintf(w, "image: %s\n", info.Image)
	f := info.Format
	if info.FormatVersion != "" {
		f += " (compat " + info.FormatVersion + ")"
	}
	fmt.Fprintf(w, "format: %s, virtual size %s (%d bytes), image size %s\n", f, fsprobe.FormatSize(info.VirtualSize), info.VirtualSize, fsprobe.FormatSize(info.ImageSize))
	if info.BackingFile != "" {
		fmt.Fprintf(w, "backing file: %s\n", info.BackingFile)
	}
	for _, warn := range info.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
	type row struct {
		name string
		r    *fsprobe.Result
	}
	var rows []row
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if t := info.PartitionTable; t != nil {
		fmt.Fprintf(w, "partition table: %s, id %s, %d-byte sectors\n\n", t.Kind, t.DiskID, t.SectorSize)
		fmt.Fprintln(tw, "PART\tSTART\tSIZE\tTYPE\tFSTYPE\tLABEL\tUUID\tLKL")
		for _, p := range t.Partitions {
			typ := p.TypeName
			if typ == "" {
				typ = p.Type
			}
			name := fmt.Sprintf("%d", p.Number)
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", name, p.Start, fsprobe.FormatSize(p.Size), typ, contentCols(p.Content, p.Error))
			if p.Content != nil && p.Content.Type != "" {
				rows = append(rows, row{"partition " + name, p.Content})
			}
		}
	} else {
		fmt.Fprintln(w)
		fmt.Fprintln(tw, "FSTYPE\tLABEL\tUUID\tLKL")
		fmt.Fprintf(tw, "%s\n", contentCols(info.Content, ""))
		if info.Content != nil && info.Content.Type != "" {
			rows = append(rows, row{"disk", info.Content})
		}
	}
	if len(info.Volumes) > 0 {
		fmt.Fprintln(tw, "\nVOLUME\tTYPE\tSIZE\tFSTYPE\tLABEL\tUUID\tLKL")
		for _, v := range info.Volumes {
			fmt.Fprintf(tw, "%s\t%s %s\t%s\t%s\n", v.Name, v.Kind, v.Type, fsprobe.FormatSize(v.Size), contentCols(v.Content, v.Error))
			if v.Content != nil && v.Content.Type != "" {
				rows = append(rows, row{"volume " + v.Name, v.Content})
			}
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range rows {
		fmt.Fprintf(w, "\n%s: %s", r.name, r.r.Type)
		if r.r.Version != "" {
			fmt.Fprintf(w, " %s", r.r.Version)
		}
		if r.r.Size > 0 {
			fmt.Fprintf(w, ", %s", fsprobe.FormatSize(r.r.Size))
		}
		if r.r.BlockSize > 0 {
			fmt.Fprintf(w, ", %d-byte blocks", r.r.BlockSize)
		}
		fmt.Fprintln(w)
		if len(r.r.Features) > 0 {
			var names []string
			for _, f := range r.r.Features {
				n := f.Name
				if f.Missing && f.Set != fsprobe.SetCompat {
					n += "(!" + f.Since + ")"
				}
				names = append(names, n)
			}
			fmt.Fprintf(w, "  features: %s\n", strings.Join(names, " "))
		}
		fmt.Fprintf(w, "  LKL (Linux %s): %s", fsprobe.Kernel, r.r.Check.Verdict)
		if r.r.Check.Reason != "" {
			fmt.Fprintf(w, ": %s", r.r.Check.Reason)
		}
		fmt.Fprintln(w)
		if r.r.Check.Fix != "" {
			fmt.Fprintf(w, "  fix: %s\n", r.r.Check.Fix)
		}
	}
	return nil
}

// contentCols are the FSTYPE, LABEL, UUID and LKL columns of what a disk
// or partition holds.
func contentCols(r *fsprobe.Result, errText string) string {
	switch {
	case errText != "":
		return "?\t\t\t" + errText
	case r == nil:
		return "-\t\t\t"
	case r.Type == "":
		return r.PartitionTable + " table\t\t\t" + string(r.Check.Verdict)
	}
	return fmt.Sprintf("%s\t%s\t%s\t%s", r.Type, dash(r.Label), dash(r.UUID), r.Check.Verdict)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
