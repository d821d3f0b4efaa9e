package unet

import (
	"errors"
	"os"
	"sync"
	"time"

	"github.com/gokernel/gokernel/aio"
	"github.com/gokernel/gokernel/eloop"
	"github.com/gokernel/gokernel/sys"
)

// netpoll is a Stack's readiness dispatcher: one aio.Poller, and one
// goroutine blocked in its Wait that turns each event into a wake-up of the
// goroutines waiting on that fd (aio.PollDesc.Notify). The goroutine runs
// only while fds are registered: it starts with the first and returns after
// the last is closed, so an idle Stack holds no goroutine and no thread in
// epoll_pwait (which LKL's Halt could not wake).
//
// Each fd is registered once, edge-triggered for reading and writing, under
// a token of the fd runtime's slot table (aio.Slots).
//
// A Stack bound to a Loop (Options.Loop) has no poller and no goroutine of
// its own: each fd is a watch of the Loop whose callback is PollDesc.Notify,
// and the table only lists the sockets for Stack.Close.
type netpoll struct {
	p    *aio.Poller // nil with a Loop, or on io_uring
	loop *eloop.Loop

	// On io_uring (poll_uring.go): the kernel, the running dispatcher
	// (nil while no socket is open) and the dispatchers' counters.
	uring  bool
	k      sys.Kernel
	u      *uringDisp
	ustats uringStats

	mu      sync.Mutex
	fds     aio.Slots[*netFD]
	running bool          // a dispatch goroutine runs and has not been told to stop
	epoch   uint64        // the running goroutine's number; a goroutine whose number is old stops
	done    chan struct{} // closed when the running goroutine returns
	closed  bool
}

// pollEvents is how every fd is registered (runtime/netpoll_epoll.go).
const pollEvents = aio.Read | aio.Write | aio.RDHUP | aio.EdgeTriggered

// add registers fd.sysfd and gives fd its PollDesc's token.
func (np *netpoll) add(fd *netFD) error {
	np.mu.Lock()
	if np.closed {
		np.mu.Unlock()
		return aio.Socket.ErrClosed()
	}
	fd.PD.Token = np.fds.Add(fd)
	if np.loop != nil {
		np.mu.Unlock()
		id, err := np.loop.Watch(fd.Sysfd, pollEvents, fd.PD.Notify)
		if err != nil {
			np.remove(fd)
			return err
		}
		fd.watch = id
		return nil
	}
	if np.uring {
		return np.addUring(fd)
	}
	if !np.running {
		np.running = true
		np.epoch++
		np.done = make(chan struct{})
		go np.run(np.epoch, np.done)
	}
	np.mu.Unlock()
	if err := np.p.Add(fd.Sysfd, pollEvents, fd.PD.Token); err != nil {
		np.remove(fd)
		return err
	}
	return nil
}

// remove frees fd's slot; its fd is closed (or about to be) by the caller,
// which takes it out of the epoll set (with a Loop, remove unwatches it
// first; an error there means the Loop has stopped and its poller is
// gone). Removing the last fd waits until the dispatch goroutine has left
// epoll_pwait and returned, so that once every socket is closed no call of
// the Stack is inside the kernel (LKL's Halt refuses to stop while one is).
func (np *netpoll) remove(fd *netFD) {
	if np.uring {
		np.removeUring(fd)
		return
	}
	var idle chan struct{}
	np.mu.Lock()
	if _, ok := np.fds.Remove(fd.PD.Token); ok && np.fds.Len() == 0 && np.running {
		// Tell the goroutine to stop; a later add starts another,
		// which waits in Wait (serialized) until this one is out.
		np.running = false
		np.epoch++
		idle = np.done
		np.p.Wake() // an error means closed, which ends the goroutine too
	}
	np.mu.Unlock()
	if fd.watch != 0 {
		np.loop.Unwatch(fd.watch)
	}
	if idle != nil {
		<-idle
	}
}

// run dispatches events until remove or close tells it to stop (a newer
// epoch).
func (np *netpoll) run(epoch uint64, done chan struct{}) {
	defer close(done)
	var evs [128]aio.Event
	w := np.p.NewWaiter()
	// The goroutines the events woke sit in this P's run queue, and the
	// next Wait is a system call that keeps the P until sysmon takes it
	// back: yield after every turn with events, so they run first.
	w.YieldAfterEvents = true
	for {
		// Unbounded: add, remove and close Wake the poller. (A 100 ms
		// bound once hid stalls on LKL; docs/lkl-build.md, "Wakes", shows
		// a blocked epoll_pwait is always woken, with fix 12 at once.)
		n, err := w.Wait(evs[:], -1)
		np.mu.Lock()
		for _, ev := range evs[:n] {
			if fd, ok := np.fds.Get(ev.Token); ok {
				fd.PD.Notify(ev.Events)
			}
		}
		if np.epoch != epoch || np.closed || (err != nil && errors.Is(err, os.ErrClosed)) {
			if np.epoch == epoch {
				np.running = false
			}
			np.mu.Unlock()
			return
		}
		np.mu.Unlock()
		if err != nil {
			// A failing epoll_pwait (it should not) would spin: back off.
			time.Sleep(time.Millisecond)
		}
	}
}

// addUring registers fd with the io_uring dispatcher, starting one if
// none runs; np.mu is held and fd has its token.
func (np *netpoll) addUring(fd *netFD) error {
	d := np.u
	if d == nil {
		var err error
		if d, err = startUring(np.k, &np.ustats); err != nil {
			np.fds.Remove(fd.PD.Token)
			np.mu.Unlock()
			return err
		}
		np.u = d
	}
	np.mu.Unlock()
	if err := d.add(fd); err != nil {
		// The ring could not be set up; its goroutine has returned.
		np.mu.Lock()
		np.fds.Remove(fd.PD.Token)
		if np.u == d {
			np.u = nil
		}
		np.mu.Unlock()
		return err
	}
	fd.ud = d
	return nil
}

// removeUring cancels fd's poll and waits for its last completion, then
// frees fd's slot; after the last socket the dispatcher stops (closing
// its ring) before remove returns, as the epoll one does.
func (np *netpoll) removeUring(fd *netFD) {
	if fd.ud != nil {
		fd.ud.remove(fd)
		if fd.ud.br != nil {
			fd.dropRecv()
		}
	}
	var stop *uringDisp
	np.mu.Lock()
	if _, ok := np.fds.Remove(fd.PD.Token); ok && np.fds.Len() == 0 && np.u != nil {
		stop, np.u = np.u, nil
	}
	np.mu.Unlock()
	if stop != nil {
		stop.stop()
	}
}

// sockets returns the registered sockets (for Stack.Close).
func (np *netpoll) sockets() []*netFD {
	np.mu.Lock()
	defer np.mu.Unlock()
	var fds []*netFD
	np.fds.All(func(fd *netFD) { fds = append(fds, fd) })
	return fds
}

// close stops the goroutine, then closes the poller.
func (np *netpoll) close() error {
	np.mu.Lock()
	if np.closed {
		np.mu.Unlock()
		return aio.Socket.ErrClosed()
	}
	np.closed = true
	done, u := np.done, np.u
	np.u = nil
	np.mu.Unlock()
	if u != nil {
		u.stop()
	}
	if np.p == nil {
		return nil // the Loop's poller is the Loop's
	}
	if done != nil {
		np.p.Wake()
		<-done
	}
	return np.p.Close()
}
