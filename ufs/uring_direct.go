package ufs

import (
	"io/fs"
	"syscall"

	"github.com/gokernel/gokernel/aio"
)

// ReadFile on io_uring as one linked chain per file (with
// GOKERNEL_UFS_URING=chain). Where the kernel lets the ring have a table
// of files (aio.Ring.RegisterFilesSparse, Linux 5.19) and skip
// completions (IORING_FEAT_CQE_SKIP), a ReadFile queues, at once:
//
//	openat2(rootfd, name) into slot S of the table   IOSQE_IO_HARDLINK|CQE_SKIP_SUCCESS
//	read(S, the slot's scratch buffer[:firstRead])   IOSQE_IO_HARDLINK
//	read(S, the rest of the scratch buffer)
//
// The three go to the kernel in the same io_uring_enter as every other
// call of the loop's turn, and for a file in the page cache all three
// run inside it: no fd is installed in the process's table or removed
// from it, the reads find the file without an fd lookup, and the call's
// two completions come back together. The links are hard: each entry
// runs after the one before it whatever its result, so the second read
// runs after a short first one (a read of 0 bytes sees the end of a
// small file, as FS.ReadFile's last read does), and after a failed open
// the reads fail with EBADF on the empty slot. A soft link would cancel
// them instead, and the kernel posts no completion for entries a failed
// CQE_SKIP_SUCCESS entry cancels (REQ_F_SKIP_LINK_CQES): the call would
// never end. After the chain:
//
//   - the first read failed (the open failed, a directory, …): the call
//     is done again on the pool, whose result and error it gives;
//   - the second read returned 0: the file is read: its bytes are copied
//     out of the scratch buffer (clone) and its slot is closed;
//   - it returned bytes (the file is larger than the first read, or
//     grew, or reads short): they follow the first read's, and plain
//     reads of the slot go on to the end, as without a table, into a
//     buffer that doubles when full (a slot has no fd to fstat).
//
// A slot is closed with IORING_OP_CLOSE of the slot, its completion
// skipped on success, and is free for another chain as soon as the close
// is in the submission queue: the kernel takes entries in order and a
// close of a table slot runs when it is taken, so the close has run
// before the open of any chain queued after it.

// fileSlots is the size of the file table; chains in flight, two
// completions each, are at most ringEntries/2.
const fileSlots = ringEntries

// A slot's scratch buffer is firstRead bytes for its chain's first read,
// then chainScratch for the second.
const chainScratch = 4096

// EnvUring is the environment variable that turns ReadFile's linked
// chains on: "chain" (NewAsync reads it). They are off by default: in
// alternated runs of BenchmarkAsyncSmallFiles they cost as much CPU as
// the separate operations, or a few percent more (docs/aio.md, "Files").
// Any other value leaves them off.
const EnvUring = "GOKERNEL_UFS_URING"

// setupDirect gives r a file table (when EnvUring asks for chains) if
// the kernel has what they need; without one, ReadFile opens fds.
func (r *fileRing) setupDirect() {
	if r.ring.Features()&aio.FeatCQESkip == 0 {
		return
	}
	if err := r.ring.RegisterFilesSparse(fileSlots); err != nil {
		return
	}
	r.direct = true
	r.files = make([]uint32, fileSlots)
	for i := range r.files {
		r.files[i] = uint32(fileSlots - 1 - i) // slot 0 is taken first
	}
	r.scratch = make([][]byte, fileSlots)
}

// closeDirect closes file table slot and frees it for another chain.
// A closed ring has dropped its table, and the files in it, already.
func (r *fileRing) closeDirect(slot uint32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	if len(r.closes) > 0 || r.ring.SQEntries() == r.ring.Pending() {
		r.closes = append(r.closes, slot)
	} else {
		r.queueClose(slot)
	}
	if !r.batching {
		r.flush()
	}
}

// queueClose queues the close of slot, which frees it: see above. A
// failed close (none is expected: the slot holds a file) posts a
// completion with aio.ReservedToken, which take ignores. With mu held
// and room in the submission queue.
func (r *fileRing) queueClose(slot uint32) {
	s := r.ring.GetSQE()
	s.PrepCloseDirect(slot)
	s.Flags |= aio.SQECQESkipSuccess
	s.UserData = aio.ReservedToken
	r.files = append(r.files, slot)
	r.started++
}

// need says what o takes (multiOp): a chain awaits two completions and
// takes three entries and a slot; a later read is one entry.
func (o *readFileOp) need() (completions, entries int, slot bool) {
	if o.chain {
		return 2, 3, true
	}
	return 1, 1, false
}

// queueOn queues o's chain, or its next entry. With r.mu held, and room
// (fileRing.fits).
func (o *readFileOp) queueOn(r *fileRing) {
	if !o.chain {
		s := r.ring.GetSQE()
		o.prep(s)
		s.UserData = r.ops.Add(o)
		return
	}
	n := len(r.files) - 1
	slot := r.files[n]
	r.files = r.files[:n]
	if r.scratch[slot] == nil {
		r.scratch[slot] = make([]byte, firstRead+chainScratch)
	}
	o.slot, o.scratch, o.got = int32(slot), r.scratch[slot], 0

	s := r.ring.GetSQE()
	s.PrepOpenat2Direct(o.rootfd, &o.path[0], &o.how, slot)
	s.Flags |= aio.SQEIOHardlink | aio.SQECQESkipSuccess
	s.UserData = aio.ReservedToken // only a failure posts; take ignores it
	s = r.ring.GetSQE()
	s.PrepReadDirect(slot, o.scratch[:firstRead], -1)
	s.Flags |= aio.SQEIOHardlink
	s.UserData = r.ops.Add(o)
	s = r.ring.GetSQE()
	s.PrepReadDirect(slot, o.scratch[firstRead:], -1)
	s.UserData = r.ops.Add((*secondRead)(o))
}

// secondRead is a readFileOp's chain seen from its second read, which
// has a user data of its own.
type secondRead readFileOp

func (o *secondRead) prep(*aio.SQE) {} // queued by readFileOp.queueOn

func (o *secondRead) done(res int32, err error) {
	(*readFileOp)(o).res2 = res
	(*readFileOp)(o).chainDone(err)
}

// chainDone takes one of the chain's two completions (err: the ring
// closed before it); after both, it goes on as the comment at the top of
// this file says.
func (o *readFileOp) chainDone(err error) {
	if err != nil {
		o.ended = err
	}
	if o.got++; o.got < 2 {
		return
	}
	o.chain = false
	o.fsys.r.decref() // the open has run
	switch {
	case o.ended != nil:
		o.finish(o.ended)
	case o.res1 < 0:
		o.r.closeDirect(uint32(o.slot)) // empty when the open failed: the close fails, unseen
		o.toPool()
	case o.res2 < 0:
		o.data = clone(o.scratch[:o.res1])
		o.finish(&fs.PathError{Op: "read", Path: o.name, Err: syscall.Errno(-o.res2)})
	case o.res2 == 0:
		o.data = clone(o.scratch[:o.res1])
		o.finish(nil)
	default:
		n1, n2 := int(o.res1), int(o.res2)
		o.data = make([]byte, 0, 2*(n1+n2))
		o.data = append(append(o.data, o.scratch[:n1]...), o.scratch[firstRead:firstRead+n2]...)
		if err := o.r.next(o); err != nil {
			o.finish(err)
		}
	}
}

// clone returns a copy of b, not nil (FS.ReadFile's empty result is
// not nil either). An append to nil allocates b's size class without
// zeroing it first, so the result costs less than a buffer allocated
// before the read and filled by the kernel: a small file's bytes land in
// its slot's scratch buffer, warm in the cache, and only they are
// copied.
func clone(b []byte) []byte {
	if len(b) == 0 {
		return []byte{}
	}
	return append([]byte(nil), b...)
}
