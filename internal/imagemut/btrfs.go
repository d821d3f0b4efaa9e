package imagemut

// btrfs (fs/btrfs/ctree.h): the superblock at 64 KiB, whose system
// chunk array maps the chunk tree; the chunk tree's leaf maps the
// metadata chunks, through which the root tree and the trees its
// ROOT_ITEMs name are found.

const (
	btrfsSB      = 64 << 10
	btrfsHdr     = 101 // struct btrfs_header
	btrfsItem    = 25  // struct btrfs_item: key (17), offset, size
	btrfsKeyPtr  = 33  // struct btrfs_key_ptr: key (17), blockptr, generation
	btrfsChunk   = 228 // BTRFS_CHUNK_ITEM_KEY
	btrfsRoot    = 132 // BTRFS_ROOT_ITEM_KEY
	btrfsChunkSz = 48  // struct btrfs_chunk without its stripes
	btrfsStripe  = 32
)

var btrfsSBFields = fields(false,
	"bytenr", 48, 8, "flags", 56, 8, "magic", 64, 8, "generation", 72, 8, "root", 80, 8,
	"chunk_root", 88, 8, "log_root", 96, 8, "total_bytes", 112, 8, "bytes_used", 120, 8,
	"root_dir_objectid", 128, 8, "num_devices", 136, 8, "sectorsize", 144, 4, "nodesize", 148, 4,
	"leafsize", 152, 4, "stripesize", 156, 4, "sys_chunk_array_size", 160, 4,
	"chunk_root_generation", 164, 8, "compat_flags", 172, 8, "compat_ro_flags", 180, 8,
	"incompat_flags", 188, 8, "csum_type", 196, 2, "root_level", 198, 1, "chunk_root_level", 199, 1,
	"log_root_level", 200, 1, "dev_item.devid", 201, 8, "dev_item.total_bytes", 209, 8,
	"sys_chunk.key.offset", 820, 8, "sys_chunk.length", 828, 8, "sys_chunk.num_stripes", 872, 2,
	"sys_chunk.stripe0.offset", 884, 8)

// btrfsNodeFields are a node's header fields and its first items' (a
// leaf) or key pointers' (a node) fields.
func btrfsNodeFields(leaf bool, nodesize int) []Field {
	fs := fields(false, "bytenr", 48, 8, "flags", 56, 8, "generation", 80, 8, "owner", 88, 8,
		"nritems", 96, 4, "level", 100, 1)
	for i := range maxEntries {
		if leaf {
			e := btrfsHdr + btrfsItem*i
			fs = append(fs, fields(false, "key.objectid", e, 8, "key.type", e+8, 1, "key.offset", e+9, 8,
				"item.offset", e+17, 4, "item.size", e+21, 4)...)
		} else {
			e := btrfsHdr + btrfsKeyPtr*i
			fs = append(fs, fields(false, "key.objectid", e, 8, "key.type", e+8, 1, "key.offset", e+9, 8,
				"blockptr", e+17, 8, "generation", e+25, 8)...)
		}
	}
	n := fs[:0:0]
	for _, f := range fs {
		if f.Off+f.Width <= nodesize {
			n = append(n, f)
		}
	}
	return n
}

// btrfsMap is a chunk: logical [log, log+n) at physical phys.
type btrfsMap struct{ log, n, phys uint64 }

func (l *locator) btrfs() error {
	sb := l.read(btrfsSB, 4096)
	if sb == nil || string(sb[64:72]) != "_BHRfS_M" {
		return ErrUnsupported
	}
	l.add(Region{Kind: "btrfs-sb", Off: btrfsSB, Len: 4096, Fields: btrfsSBFields, csum: csumBtrfs})
	nodesize := int(le.Uint32(sb[148:]))
	if nodesize < 4096 || nodesize > MaxRegion || nodesize&(nodesize-1) != 0 {
		return nil
	}
	var maps []btrfsMap
	// chunk parses a chunk item of key offset logical at c.
	chunk := func(logical uint64, c []byte) int {
		if len(c) < btrfsChunkSz {
			return -1
		}
		stripes := int(le.Uint16(c[44:]))
		if stripes == 0 || len(c) < btrfsChunkSz+btrfsStripe*stripes {
			return -1
		}
		maps = append(maps, btrfsMap{log: logical, n: le.Uint64(c), phys: le.Uint64(c[btrfsChunkSz+8:])})
		return btrfsChunkSz + btrfsStripe*stripes
	}
	arr := sb[811:]
	arr = arr[:min(int(le.Uint32(sb[160:])), len(arr))]
	for len(arr) >= 17 && len(maps) < maxNodes {
		n := chunk(le.Uint64(arr[9:]), arr[17:])
		if n < 0 {
			break
		}
		arr = arr[17+n:]
	}
	phys := func(logical uint64) int64 {
		for _, m := range maps {
			if logical >= m.log && logical-m.log < m.n {
				return int64(m.phys + (logical - m.log))
			}
		}
		return -1
	}
	// node reads the tree node at logical and adds it; it returns the
	// node's bytes, or nil.
	node := func(logical uint64) []byte {
		off := phys(logical)
		b := l.read(off, nodesize)
		if b == nil || len(l.out.Regions) > maxNodes {
			return nil
		}
		l.add(Region{Kind: "btrfs-node", Off: off, Len: nodesize, Fields: btrfsNodeFields(b[100] == 0, nodesize), csum: csumBtrfs})
		return b
	}
	// items calls fn with each item of a leaf (key type, key offset,
	// data), bounded by the node.
	items := func(b []byte, fn func(typ byte, koff uint64, data []byte)) {
		n := min(int(le.Uint32(b[96:])), (nodesize-btrfsHdr)/btrfsItem)
		for i := range n {
			it := b[btrfsHdr+btrfsItem*i:]
			off, size := int(le.Uint32(it[17:])), int(le.Uint32(it[21:]))
			if off < 0 || size < 0 || btrfsHdr+off+size > nodesize || btrfsHdr+off+size < 0 {
				continue
			}
			fn(it[8], le.Uint64(it[9:]), b[btrfsHdr+off:btrfsHdr+off+size])
		}
	}
	// tree adds the nodes of the tree at logical, two levels deep.
	var tree func(logical uint64, depth int) []byte
	tree = func(logical uint64, depth int) []byte {
		b := node(logical)
		if b == nil || b[100] == 0 || depth == 0 {
			return b
		}
		n := min(int(le.Uint32(b[96:])), (nodesize-btrfsHdr)/btrfsKeyPtr, 8)
		for i := range n {
			tree(le.Uint64(b[btrfsHdr+btrfsKeyPtr*i+17:]), depth-1)
		}
		return nil
	}
	if c := tree(le.Uint64(sb[88:]), 1); c != nil && c[100] == 0 {
		items(c, func(typ byte, koff uint64, data []byte) {
			if typ == btrfsChunk && len(maps) < maxNodes {
				chunk(koff, data)
			}
		})
	}
	if r := tree(le.Uint64(sb[80:]), 1); r != nil && r[100] == 0 {
		items(r, func(typ byte, koff uint64, data []byte) {
			if typ == btrfsRoot && len(data) >= 184 {
				tree(le.Uint64(data[176:]), 1)
			}
		})
	}
	return nil
}
