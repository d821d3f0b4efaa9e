package eloop_test

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/aio"
	"github.com/gokernel/gokernel/eloop"
	"github.com/gokernel/gokernel/libgo"
)

// A Loop runs posted tasks in order on the goroutine that calls Run.
func ExampleLoop_Post() {
	l, err := eloop.New(nil, eloop.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	for i := range 3 {
		l.Post(func() { fmt.Println("task", i) })
	}
	l.Post(l.Stop)
	fmt.Println(l.Run(context.Background()))
	// Output:
	// task 0
	// task 1
	// task 2
	// <nil>
}

// Timers fire in deadline order, on the loop goroutine.
func ExampleLoop_AfterFunc() {
	l, err := eloop.New(nil, eloop.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	l.AfterFunc(60*time.Millisecond, func() { fmt.Println("second"); l.Stop() })
	l.AfterFunc(10*time.Millisecond, func() { fmt.Println("first") })
	never := l.AfterFunc(time.Millisecond, func() { fmt.Println("never") })
	never.Stop()
	l.Run(context.Background())
	// Output:
	// first
	// second
}

// Blocking work runs on a worker; its result comes back to the loop.
func ExampleLoop_Submit() {
	l, err := eloop.New(nil, eloop.Options{Workers: 2})
	if err != nil {
		fmt.Println(err)
		return
	}
	l.Submit(context.Background(),
		func(ctx context.Context) (any, error) { return 6 * 7, nil },
		func(v any, err error) { fmt.Println(v, err); l.Stop() })
	l.Run(context.Background())
	// Output:
	// 42 <nil>
}

// Watch calls back when a pipe becomes readable.
func ExampleLoop_Watch() {
	var lc libgo.Libc // the default kernel
	p, err := lc.Pipe2(unix.O_NONBLOCK | unix.O_CLOEXEC)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer lc.Close(p[0])
	defer lc.Close(p[1])
	l, err := eloop.New(nil, eloop.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	var id eloop.WatchID
	id, err = l.Watch(p[0], aio.Read, func(ev aio.Events) {
		buf := make([]byte, 16)
		n, _ := lc.Read(p[0], buf)
		fmt.Printf("%v: %q\n", ev, buf[:n])
		l.Unwatch(id)
		l.Stop()
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	lc.Write(p[1], []byte("hello"))
	l.Run(context.Background())
	// Output:
	// Read: "hello"
}
