package lkl

import "unsafe"

// hostPtr turns address p back into a pointer: memory that a caller of
// sys.Syscall passed as a uintptr argument and that sys.Syscall's
// //go:uintptrescapes keeps alive and in place until the call returns.
//
// Turning a uintptr back into a pointer is what the unsafe rules warn
// about; it is sound here only because of that guarantee, and only for the
// duration of the call. //go:nocheckptr is needed because the race
// detector's pointer checks cannot know where the address came from.
//
//go:nocheckptr
func hostPtr(p uintptr) unsafe.Pointer {
	return unsafe.Add(unsafe.Pointer(nil), p)
}
