package isolated

import (
	"bytes"
	"testing"
)

// TestConsole: kernel messages are kept but shown only with debug on;
// everything else (the program's stderr through LKL's fd 2) passes.
func TestConsole(t *testing.T) {
	for _, debug := range []bool{false, true} {
		var out bytes.Buffer
		c := newConsole(&out, debug)
		c.Write([]byte("[    0.000000] Linux version 4.9.0\nprogram says hi\n"))
		c.Write([]byte("[    1.234567] Kernel panic - not syncing: test\n kobject_put+0x84/0x100\n\n[not a kernel line]\n"))
		want := "program says hi\n[not a kernel line]\n"
		if debug {
			want = "[    0.000000] Linux version 4.9.0\nprogram says hi\n[    1.234567] Kernel panic - not syncing: test\n kobject_put+0x84/0x100\n\n[not a kernel line]\n"
		}
		if out.String() != want {
			t.Errorf("debug=%v: stderr got %q, want %q", debug, out.String(), want)
		}
		if !bytes.Contains([]byte(c.tail()), []byte("Kernel panic - not syncing: test")) {
			t.Errorf("debug=%v: the tail lost the panic line: %q", debug, c.tail())
		}
	}
	var out bytes.Buffer
	c := newConsole(&out, false)
	for range 100 {
		c.Write(bytes.Repeat([]byte("x"), 1000))
	}
	if n := len(c.tail()); n != consoleTail {
		t.Errorf("tail holds %d bytes, want %d", n, consoleTail)
	}
}
