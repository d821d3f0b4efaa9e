//go:build lkl

package lkl_test

// Wakes of calls blocked in LKL: a thread sleeping in epoll_pwait with no
// timeout must return when another thread writes to what it waits on, and
// one with a timeout when LKL's timer interrupt ends it. unet's dispatcher
// bounds its waits to 100 ms because such a wake was once seen lost
// (commit 9a23f41). Here a wake not delivered within wakeDeadline fails
// the test, which then says whether an unrelated call woke the waiter (a
// woken task left unscheduled: what LKL fix 12, CONFIG_GOKERNEL_RUN_WOKEN,
// is about) or nothing did.

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/sys"
)

// wakeRounds is how many wakes each waiter of TestWakeBlockedWait gets in
// each of its cases; make soak-lkl raises it.
var wakeRounds = flag.Int("wake.rounds", 150, "TestWakeBlockedWait: wakes per waiter in each case")

// wakeDeadline is how long a wake may take before the test calls it lost.
// It is no speed limit: a delivered wake takes microseconds to a few
// milliseconds, and a lost one never comes.
const wakeDeadline = 5 * time.Second

// wakeFDs is what one waiter sleeps on: epoll watches wait (registered
// with events), and the other side writes msg to kick.
type wakeFDs struct {
	wait, kick uintptr
	events     uint32
	msg        []byte
	close      []uintptr
}

// newWakeFDs makes the fds of one waiter of the given kind: "eventfd" (an
// eventfd, level-triggered, as aio's Poller wakes), "pipe" or "tcp" (a
// connection over LKL's loopback; both edge-triggered, as unet registers
// every fd). Kind "timeout" has none: its waiter sleeps in epoll_pwait on
// an empty set for 1 to 3 ms, and the wake is the timer interrupt's, which
// a host timer thread delivers (arch/lkl/kernel/irq.c, lkl_trigger_irq).
func newWakeFDs(t *testing.T, kind string) *wakeFDs {
	t.Helper()
	switch kind {
	case "timeout":
		return nil
	case "eventfd":
		fd := mustCall(t, "eventfd2", unix.SYS_EVENTFD2, 0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
		msg := make([]byte, 8)
		msg[0] = 1 // 1 in little-endian: one count
		return &wakeFDs{wait: fd, kick: fd, events: unix.EPOLLIN, msg: msg, close: []uintptr{fd}}
	case "pipe":
		var fds [2]int32
		mustCall(t, "pipe2", unix.SYS_PIPE2, uintptr(unsafe.Pointer(&fds)), unix.O_NONBLOCK|unix.O_CLOEXEC)
		r, w := uintptr(fds[0]), uintptr(fds[1])
		return &wakeFDs{wait: r, kick: w, events: unix.EPOLLIN | unix.EPOLLET, msg: []byte{1}, close: []uintptr{r, w}}
	case "tcp":
		c, a := loopbackTCP(t, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		one := int32(1)
		mustCall(t, "setsockopt TCP_NODELAY", unix.SYS_SETSOCKOPT, c, unix.IPPROTO_TCP, unix.TCP_NODELAY, uintptr(unsafe.Pointer(&one)), 4)
		return &wakeFDs{wait: a, kick: c, events: unix.EPOLLIN | unix.EPOLLET, msg: []byte{1}, close: []uintptr{a, c}}
	}
	t.Fatalf("unknown kind %q", kind)
	return nil
}

// TestWakeBlockedWait: waiters, each on an OS thread of its own, sleep in
// epoll_pwait with no timeout; for each, another thread writes once per
// round, after a random pause (none, a spin, or a sleep: the write lands
// before, while and after the waiter goes to sleep), and then waits for the
// wake without entering LKL. Without timers, nothing else enters the
// kernel while the test waits, so only LKL's own tick could rescue a woken
// task that nobody schedules (it does, without fix 12: docs/lkl-build.md,
// "Wakes"); with timers, a goroutine keeps short epoll_pwait timeouts
// pending, as unet's bounded dispatcher did.
func TestWakeBlockedWait(t *testing.T) {
	for _, kind := range []string{"eventfd", "pipe", "tcp", "timeout"} {
		for _, waiters := range []int{1, 4} {
			for _, timers := range []bool{false, true} {
				name := fmt.Sprintf("%s/waiters=%d/timers=%v", kind, waiters, timers)
				t.Run(name, func(t *testing.T) { testWake(t, kind, waiters, timers) })
			}
		}
	}
}

func testWake(t *testing.T, kind string, waiters int, timers bool) {
	if timers {
		stop := keepTimersPending(t)
		defer stop()
	}
	var kickers sync.WaitGroup
	lat := make([][]time.Duration, waiters)
	exited := make([]chan struct{}, waiters)
	for i := range waiters {
		fds := newWakeFDs(t, kind)
		ep := mustCall(t, "epoll_create1", unix.SYS_EPOLL_CREATE1, unix.EPOLL_CLOEXEC)
		t.Cleanup(func() { call(unix.SYS_CLOSE, ep) })
		if fds != nil {
			ev := unix.EpollEvent{Events: fds.events, Fd: int32(fds.wait)}
			mustCall(t, "epoll_ctl", unix.SYS_EPOLL_CTL, ep, unix.EPOLL_CTL_ADD, fds.wait, uintptr(unsafe.Pointer(&ev)))
			t.Cleanup(func() {
				for _, fd := range fds.close {
					call(unix.SYS_CLOSE, fd)
				}
			})
		}
		w := &wakePair{fds: fds, ready: make(chan struct{}), woke: make(chan error), quit: make(chan struct{})}
		exited[i] = make(chan struct{})
		go func() {
			defer close(exited[i])
			w.wait(ep)
		}()
		kickers.Go(func() {
			defer close(w.quit)
			lat[i] = w.kick(t, i)
		})
	}
	kickers.Wait()
	// A waiter whose wake was lost may still be inside LKL; the test has
	// failed then, and waiting for it must not hang the test as well.
	for i, ch := range exited {
		select {
		case <-ch:
		case <-time.After(wakeDeadline):
			t.Errorf("waiter %d is still blocked in epoll_pwait", i)
		}
	}
	all := slices.Concat(lat...)
	if len(all) == 0 {
		return
	}
	slices.Sort(all)
	slow := 0
	for _, d := range all {
		if d > 5*time.Millisecond {
			slow++
		}
	}
	t.Logf("%d wakes: median %v, p99 %v, max %v, %d over 5 ms",
		len(all), all[len(all)/2], all[len(all)*99/100], all[len(all)-1], slow)
}

// A wakePair is one waiter and the thread that kicks it.
type wakePair struct {
	fds   *wakeFDs      // nil: the waiter's timeout wakes it
	ready chan struct{} // the waiter is about to sleep
	woke  chan error    // the waiter woke (nil) or failed
	quit  chan struct{} // closed when the kicker has stopped
}

// wait sleeps in epoll_pwait (no timeout, or 1-3 ms without fds) once per
// round, after telling the kicker it is about to, and reports each wake,
// until the kicker stops.
func (w *wakePair) wait(ep uintptr) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var ev unix.EpollEvent
	buf := make([]byte, 64)
	for {
		select {
		case w.ready <- struct{}{}:
		case <-w.quit:
			return
		}
		var err error
		timeout := ^uintptr(0) // -1: none
		if w.fds == nil {
			timeout = uintptr(1 + rand.IntN(3))
		}
		n, e := call(unix.SYS_EPOLL_PWAIT, ep, uintptr(unsafe.Pointer(&ev)), 1, timeout, 0, 0)
		switch {
		case e != 0:
			err = fmt.Errorf("epoll_pwait: %v", e)
		case w.fds == nil:
			if n != 0 {
				err = fmt.Errorf("epoll_pwait on an empty set: %d events", n)
			}
		case n != 1 || ev.Events&unix.EPOLLIN == 0:
			err = fmt.Errorf("epoll_pwait: %d events (%#x), want EPOLLIN", n, ev.Events)
		default:
			if n, e := call(unix.SYS_READ, w.fds.wait, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf))); e != 0 || n == 0 {
				err = fmt.Errorf("woken, but read: %d bytes, %v", n, e)
			}
		}
		select {
		case w.woke <- err:
		case <-w.quit:
			return
		}
	}
}

// kick writes once per round after the waiter is ready (unless the
// waiter's timeout is its wake), and waits up to wakeDeadline for the
// wake, outside LKL. It returns how long each wake took (from the write's
// return, or from ready for a timeout), for the log.
func (w *wakePair) kick(t *testing.T, waiter int) []time.Duration {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	rounds := *wakeRounds
	lat := make([]time.Duration, 0, rounds)
	timer := time.NewTimer(wakeDeadline)
	defer timer.Stop()
	for r := range rounds {
		select {
		case <-w.ready:
		case err := <-w.woke: // only a failure comes before ready
			t.Errorf("waiter %d, round %d: %v", waiter, r, err)
			return lat
		}
		if w.fds == nil {
			if err := w.await(t, waiter, r, time.Now(), timer, &lat); err != nil {
				return lat
			}
			continue
		}
		switch rand.IntN(4) {
		case 0: // at once: often before the waiter sleeps
		case 1:
			for end := time.Now().Add(time.Duration(rand.IntN(200)) * time.Microsecond); time.Now().Before(end); {
			}
		default:
			time.Sleep(time.Duration(rand.IntN(500)) * time.Microsecond)
		}
		if _, e := call(unix.SYS_WRITE, w.fds.kick, uintptr(unsafe.Pointer(&w.fds.msg[0])), uintptr(len(w.fds.msg))); e != 0 {
			t.Errorf("waiter %d, round %d: write: %v", waiter, r, e)
			return lat
		}
		if err := w.await(t, waiter, r, time.Now(), timer, &lat); err != nil {
			return lat
		}
	}
	return lat
}

// await waits up to wakeDeadline from start for round r's wake and adds
// its time to lat; an error (also reported to t) ends the kicker.
func (w *wakePair) await(t *testing.T, waiter, r int, start time.Time, timer *time.Timer, lat *[]time.Duration) error {
	timer.Reset(wakeDeadline)
	select {
	case err := <-w.woke:
		*lat = append(*lat, time.Since(start))
		if err != nil {
			t.Errorf("waiter %d, round %d: %v", waiter, r, err)
		}
		return err
	case <-timer.C:
		err := fmt.Errorf("epoll_pwait not woken %v after the write (or its timeout): %s", wakeDeadline, rescueWaiter(w.woke))
		t.Errorf("waiter %d, round %d: %v", waiter, r, err)
		return err
	}
}

// rescueWaiter tells how a lost wake ends: first by one unrelated call
// (getpid) on this thread, which makes LKL schedule if a woken task is
// waiting to run, then by a second write. It waits for the waiter's report
// after each, so that the waiter leaves LKL before the test ends.
func rescueWaiter(woke <-chan error) string {
	call(unix.SYS_GETPID)
	select {
	case <-woke:
		return "a getpid on another thread then woke it (the woken task had been left unscheduled)"
	case <-time.After(wakeDeadline):
	}
	return fmt.Sprintf("a getpid did not wake it either (%v): still blocked", wakeDeadline)
}

// keepTimersPending runs a goroutine that sleeps in epoll_pwait on an empty
// epoll set, 1 ms at a time, so LKL always has a timer pending (and a
// tick). The returned function stops it.
func keepTimersPending(t *testing.T) (stop func()) {
	ep := mustCall(t, "epoll_create1", unix.SYS_EPOLL_CREATE1, unix.EPOLL_CLOEXEC)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var ev unix.EpollEvent
		for {
			select {
			case <-done:
				return
			default:
			}
			if _, e := call(unix.SYS_EPOLL_PWAIT, ep, uintptr(unsafe.Pointer(&ev)), 1, 1, 0, 0); e != 0 && e != sys.Errno(unix.EINTR) {
				t.Errorf("timer goroutine: epoll_pwait: %v", e)
				return
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
		call(unix.SYS_CLOSE, ep)
	}
}
