package fsprobe

import (
	"fmt"
	"strings"

	"github.com/gokernel/gokernel/disk/lvm"
	"github.com/gokernel/gokernel/disk/md"
)

// The formats LKL does not mount but fsprobe names: squashfs, iso9660,
// f2fs, LUKS, swap, LVM2 physical volumes and MD RAID members (read by
// disk/lvm and disk/md), and partition tables.

func (p *prober) squashfs() (*Result, error) {
	b := p.at(0, 96)
	if b == nil || string(b[:4]) != "hsqs" {
		return nil, nil
	}
	bs := le.Uint32(b[12:])
	if bs < 4096 || bs > 1<<20 || !isPow2(uint64(bs)) {
		return nil, nil
	}
	return &Result{
		Type:      "squashfs",
		Usage:     UsageFilesystem,
		Version:   fmt.Sprintf("%d.%d", le.Uint16(b[28:]), le.Uint16(b[30:])),
		Size:      int64(min(le.Uint64(b[40:]), 1<<63-1)),
		BlockSize: int(bs),
	}, nil
}

// iso9660's primary volume descriptor is sector 16 (2048-byte sectors).
const isoPVD = 0x8000

func (p *prober) iso9660() (*Result, error) {
	b := p.at(isoPVD, 2048)
	if b == nil || b[0] != 1 || string(b[1:6]) != "CD001" {
		return nil, nil
	}
	bs := uint64(le.Uint16(b[128:]))
	if bs < 512 || bs > 4096 || !isPow2(bs) {
		return nil, nil
	}
	r := &Result{
		Type:      "iso9660",
		Usage:     UsageFilesystem,
		Label:     cstr(b[40:72]),
		Size:      mul(uint64(le.Uint32(b[80:])), bs),
		BlockSize: int(bs),
	}
	// blkid's UUID is the volume's creation time, YYYYMMDDHHMMSScc.
	if d := b[813:829]; d[0] >= '0' && d[0] <= '9' && strings.Trim(string(d), "0") != "" {
		r.UUID = fmt.Sprintf("%s-%s-%s-%s-%s-%s-%s", d[0:4], d[4:6], d[6:8], d[8:10], d[10:12], d[12:14], d[14:16])
	}
	return r, nil
}

// f2fs's superblock is at 1024 (include/linux/f2fs_fs.h).
const f2fsSB = 1024

func (p *prober) f2fs() (*Result, error) {
	b := p.at(f2fsSB, 124+1024)
	if b == nil || le.Uint32(b) != 0xF2F52010 {
		return nil, nil
	}
	logBS := le.Uint32(b[16:])
	if logBS < 9 || logBS > 16 {
		return nil, nil
	}
	return &Result{
		Type:      "f2fs",
		Usage:     UsageFilesystem,
		Version:   fmt.Sprintf("%d.%d", le.Uint16(b[4:]), le.Uint16(b[6:])),
		UUID:      uuid(b[108:]),
		Label:     utf16le(b[124 : 124+1024]),
		Size:      mul(le.Uint64(b[36:]), 1<<logBS),
		BlockSize: 1 << logBS,
	}, nil
}

// luks reads the LUKS1 and LUKS2 header (cryptsetup's on-disk format
// documents): the same magic and version field, then per version.
func (p *prober) luks() (*Result, error) {
	b := p.at(0, 512)
	if b == nil || string(b[:6]) != "LUKS\xba\xbe" {
		return nil, nil
	}
	ver := be.Uint16(b[6:])
	if ver != 1 && ver != 2 {
		return nil, nil
	}
	r := &Result{Type: "crypto_LUKS", Usage: UsageCrypto, Version: fmt.Sprint(ver), UUID: cstr(b[168:208])}
	if ver == 2 {
		r.Label = cstr(b[24:72])
	}
	return r, nil
}

// swap: the signature ends the first page, whatever the page size.
func (p *prober) swap() (*Result, error) {
	for _, page := range []int{4096, 8192, 16384, 65536} {
		sig := p.at(page-10, 10)
		if sig == nil {
			break
		}
		switch string(sig) {
		case "SWAP-SPACE":
			return &Result{Type: "swap", Usage: UsageOther, Version: "0"}, nil
		case "SWAPSPACE2":
			h := p.at(1024, 44)
			return &Result{
				Type:    "swap",
				Usage:   UsageOther,
				Version: fmt.Sprint(le.Uint32(h)),
				UUID:    uuid(h[12:]),
				Label:   cstr(h[28:44]),
				Size:    mul(uint64(le.Uint32(h[4:]))+1, uint64(page)),
			}, nil
		}
	}
	return nil, nil
}

// lvm recognises an LVM2 physical volume with disk/lvm's reader (the
// label in sectors 0 to 3, its CRC and the PV header). A damaged label
// is not recognised: blkid does not either.
func (p *prober) lvm() (*Result, error) {
	pv, err := lvm.ReadPV(p.d)
	if err != nil {
		return nil, nil
	}
	return &Result{Type: "LVM2_member", Usage: UsageRAID, Version: "LVM2 001", UUID: pv.UUID, Size: pv.Size}, nil
}

// md recognises an MD RAID member with disk/md's reader (superblocks
// 1.1 at the start, 1.2 at 4 KiB, 1.0 and 0.90 near the end, their
// checksums checked). A damaged superblock is not recognised.
func (p *prober) md() (*Result, error) {
	m, err := md.ReadMember(p.d)
	if err != nil {
		return nil, nil
	}
	r := &Result{Type: "linux_raid_member", Usage: UsageRAID, Version: m.Version, Label: m.Name, Size: m.DataSize}
	if m.Version == "0.90" {
		r.Version = "0.90.0" // as blkid prints it
	}
	// mdadm's 8:8:8:8 hex digits, in blkid's 8-4-4-4-12 form.
	if h := strings.ReplaceAll(m.UUID, ":", ""); len(h) == 32 {
		r.UUID = h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
	}
	return r, nil
}

// partitionTable recognises a GPT header (at 512 or 4096: the sector
// size is not known) or an MBR whose four entries look like partitions.
// disk/part reads them.
func (p *prober) partitionTable() (*Result, error) {
	if p.magic(512, "EFI PART") || p.magic(4096, "EFI PART") {
		return &Result{PartitionTable: "gpt"}, nil
	}
	b := p.at(0, 512)
	if b == nil || b[510] != 0x55 || b[511] != 0xAA {
		return nil, nil
	}
	used := 0
	for i := range 4 {
		e := b[446+16*i : 446+16*i+16]
		if e[0] != 0 && e[0] != 0x80 {
			return nil, nil
		}
		if e[4] != 0 {
			if le.Uint32(e[12:]) == 0 {
				return nil, nil
			}
			used++
		}
	}
	if used == 0 {
		return nil, nil
	}
	return &Result{PartitionTable: "dos"}, nil
}
