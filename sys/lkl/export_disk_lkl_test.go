//go:build lkl

package lkl

// SetIOTimeout changes the io_timeout that later AttachDisk calls of k use
// (benchmarks compare serving with and without it in one process).
func SetIOTimeout(k *Kernel, s string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.cfg.IOTimeout = s
}
