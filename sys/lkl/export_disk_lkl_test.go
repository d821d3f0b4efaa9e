//go:build lkl

package lkl

// SetIOTimeout changes the io_timeout that later AttachDisk calls of k use
// (benchmarks compare serving with and without it in one process).
func SetIOTimeout(k *Kernel, s string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.cfg.IOTimeout = s
}

// GoDiskRequests returns how many requests the Go-served disk mounted at
// mountPoint has had served inline (on the submitting thread) and by a
// goroutine each; ok is false if no such disk is mounted there.
func GoDiskRequests(k *Kernel, mountPoint string) (inline, async int64, ok bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, a := range k.disks {
		if a.godisk != nil && a.mount == mountPoint {
			return a.godisk.inline.Load(), a.godisk.async.Load(), true
		}
	}
	return 0, 0, false
}
