package aio

// Slots is the fd runtime's one table of registrations: it gives each fd
// registered with a Poller an epoll token made of a slot index (low 32
// bits) and the slot's generation (high 32), never a Go pointer. Freeing a
// slot moves it to a new generation, so an event still on its way for a
// registration that is gone (say for an fd closed and whose number was
// reused) does not match and is dropped, as the runtime's netpoll does with
// fdseq. A token equal to ReservedToken is never given: that generation is
// skipped.
//
// eloop's watches and unet's sockets both use it. Slots is not safe for
// concurrent use: its owner guards it with its own lock.
type Slots[T any] struct {
	slots []slot[T]
	free  []uint32
	live  int
}

type slot[T any] struct {
	gen  uint32
	used bool
	v    T
}

// Add stores v in a free slot and returns its token.
func (s *Slots[T]) Add(v T) uint64 {
	var idx uint32
	if n := len(s.free); n > 0 {
		idx = s.free[n-1]
		s.free = s.free[:n-1]
	} else {
		idx = uint32(len(s.slots))
		s.slots = append(s.slots, slot[T]{})
	}
	sl := &s.slots[idx]
	sl.gen++
	if uint64(sl.gen)<<32|uint64(idx) == ReservedToken {
		sl.gen++
	}
	sl.used, sl.v = true, v
	s.live++
	return uint64(sl.gen)<<32 | uint64(idx)
}

// Get returns the value of token, if token is current.
func (s *Slots[T]) Get(token uint64) (v T, ok bool) {
	if sl := s.lookup(token); sl != nil {
		return sl.v, true
	}
	return v, false
}

// Remove frees token's slot, moving it to a new generation, and returns
// its value; ok is false if token is not current.
func (s *Slots[T]) Remove(token uint64) (v T, ok bool) {
	sl := s.lookup(token)
	if sl == nil {
		return v, false
	}
	v = sl.v
	var zero T
	sl.gen++
	sl.used, sl.v = false, zero
	s.free = append(s.free, uint32(token))
	s.live--
	return v, true
}

// Len returns the number of registrations.
func (s *Slots[T]) Len() int { return s.live }

// All calls f with each registration's value.
func (s *Slots[T]) All(f func(T)) {
	for i := range s.slots {
		if s.slots[i].used {
			f(s.slots[i].v)
		}
	}
}

// GetIndex returns the value in slot idx and the slot's generation, for
// a caller that keeps fewer than 32 bits of the generation (eloop's
// io_uring user data) and compares them itself; ok is false if the slot
// is free.
func (s *Slots[T]) GetIndex(idx uint32) (v T, gen uint32, ok bool) {
	if uint64(idx) >= uint64(len(s.slots)) || !s.slots[idx].used {
		return v, 0, false
	}
	return s.slots[idx].v, s.slots[idx].gen, true
}

func (s *Slots[T]) lookup(token uint64) *slot[T] {
	idx, gen := uint32(token), uint32(token>>32)
	if uint64(idx) >= uint64(len(s.slots)) {
		return nil
	}
	sl := &s.slots[idx]
	if !sl.used || sl.gen != gen {
		return nil
	}
	return sl
}
