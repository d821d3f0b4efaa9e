package fusefs

import (
	"sync"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/ufs"
)

// files keeps the most recently used files of a mount open between
// requests, for the requests that name a node but bring no open handle:
// the xattr requests always (cp -a sends three for every file it copies),
// and on a read-only mount the reads too, since there the host kernel is
// told not to send OPEN and RELEASE at all (see node.Open). Without it,
// each such request resolved the node's path from the root, one component
// at a time, and opened and closed the file: six or more calls into the
// FS's kernel for one getxattr.
//
// An fd here names the node's inode, not its path, so a rename or unlink
// after it was opened changes nothing. At most max files are open; the
// oldest goes first (its fd closes once the requests using it finish),
// and Server.Wait closes the rest. A cache with max 0 (Root's, where no
// Wait would close it) opens and closes the file for every request.
type files struct {
	mu     sync.Mutex
	max    int
	m      map[*node]*cachedFile
	order  []*node // oldest first
	closed bool
}

// cachedFiles is how many files a mount keeps open: cp -a, tar and rsync
// work on one file at a time, a few concurrent programs on a few more.
const cachedFiles = 64

// A cachedFile is one open file of the cache, with the requests using it.
type cachedFile struct {
	f       *ufs.File
	refs    int  // requests using f; guarded by files.mu
	evicted bool // out of the cache: the last user closes f
}

// withFile runs fn on an open file of n (opened read-only, as the xattr
// calls of ufs open it); a symlink, which cannot be opened that way, is
// given to fn as a nil File, which ufs's xattr methods take for one.
func (n *node) withFile(fn func(*ufs.File) error) error {
	if n.StableAttr().Mode == unix.S_IFLNK {
		return fn(nil)
	}
	c := &n.s.files
	c.mu.Lock()
	e := c.m[n]
	if e != nil {
		e.refs++
	}
	c.mu.Unlock()
	if e == nil {
		f, err := n.s.fsys.OpenFile(n.path(""), unix.O_RDONLY|unix.O_NONBLOCK, 0)
		if err != nil {
			return err
		}
		e = c.add(n, f)
	}
	defer c.done(e)
	return fn(e.f)
}

// add puts f, just opened for n, in the cache and returns its entry, held
// once; when another request opened n meanwhile, f is closed and that
// one's entry returned.
func (c *files) add(n *node, f *ufs.File) *cachedFile {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.m[n]; e != nil {
		f.Close()
		e.refs++
		return e
	}
	e := &cachedFile{f: f, refs: 1}
	if c.closed || c.max == 0 {
		e.evicted = true
		return e
	}
	if c.m == nil {
		c.m = make(map[*node]*cachedFile)
	}
	c.m[n] = e
	c.order = append(c.order, n)
	if len(c.order) > c.max {
		old := c.order[0]
		c.order = append(c.order[:0], c.order[1:]...)
		c.evictLocked(old)
	}
	return e
}

// done ends one use of e.
func (c *files) done(e *cachedFile) {
	c.mu.Lock()
	e.refs--
	last := e.evicted && e.refs == 0
	c.mu.Unlock()
	if last {
		e.f.Close()
	}
}

// evictLocked takes n's file out of the cache, closing it unless a request
// still uses it (that request's done closes it).
func (c *files) evictLocked(n *node) {
	e := c.m[n]
	delete(c.m, n)
	e.evicted = true
	if e.refs == 0 {
		e.f.Close()
	}
}

// close closes every file of the cache, once no request uses it, and
// opens none from now on.
func (c *files) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for _, n := range c.order {
		c.evictLocked(n)
	}
	c.order = nil
}
