//go:build lkl

package lkl_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gokernel/gokernel/sys/lkl"
)

func init() {
	children["net-tap"] = childNetTap
	children["net-tap-client"] = childNetTapClient
}

// The TAP test's addresses, inside a network namespace the test makes.
const (
	tapName    = "gktap0"
	tapHostIP  = "192.168.77.1"
	tapHostMAC = "02:00:00:00:77:01"
	tapLKLIP   = "192.168.77.2"
)

// TestTAP makes a network namespace with a TAP device, boots LKL on it in
// a child inside the namespace, and pings LKL and connects to it from the
// namespace's side. It needs root (CI has it); the machine's own
// interfaces are never touched.
func TestTAP(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("TAP test needs root to make a network namespace")
	}
	ns := fmt.Sprintf("gokernel-tap-%d", os.Getpid())
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	run("netns", "add", ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	run("-n", ns, "tuntap", "add", "dev", tapName, "mode", "tap")
	run("-n", ns, "link", "set", tapName, "address", tapHostMAC)
	run("-n", ns, "addr", "add", tapHostIP+"/24", "dev", tapName)
	run("-n", ns, "link", "set", tapName, "up")
	run("-n", ns, "link", "set", "lo", "up")

	lklChild := exec.Command("ip", "netns", "exec", ns, os.Args[0], "-test.run=^$")
	lklChild.Env = append(os.Environ(), childEnv+"=net-tap")
	stdin, _ := lklChild.StdinPipe()
	stdout, _ := lklChild.StdoutPipe()
	var stderr bytes.Buffer
	lklChild.Stderr = &stderr
	if err := lklChild.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		if err := lklChild.Wait(); err != nil {
			t.Errorf("LKL child: %v: %s", err, stderr.String())
		}
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if line != "ready\n" {
		t.Fatalf("LKL child said %q (%v): %s", line, err, stderr.String())
	}
	client := exec.Command("ip", "netns", "exec", ns, os.Args[0], "-test.run=^$")
	client.Env = append(os.Environ(), childEnv+"=net-tap-client")
	if out, err := client.CombinedOutput(); err != nil {
		t.Fatalf("client in the namespace: %v: %s", err, out)
	}
}

// childNetTap boots LKL on the TAP device, serves TCP echo on port 80 and
// halts when stdin closes.
func childNetTap() error {
	k, err := lkl.Boot(&lkl.Config{Interfaces: []lkl.Interface{{
		Type: "tap", Param: tapName, IP: tapLKLIP, MaskLen: "24", MTU: "1500",
		MAC: "02:00:00:00:77:02", Neigh: tapHostIP + "|" + tapHostMAC,
	}}})
	if err != nil {
		return err
	}
	defer k.Halt()
	l, err := listen(k, unix.SOCK_STREAM, 80)
	if err != nil {
		return err
	}
	go func() {
		for {
			c, err := l.accept()
			if err != nil {
				return
			}
			go func() {
				io.Copy(c, c)
				c.closeWrite()
				c.close()
			}()
		}
	}()
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	return nil
}

// childNetTapClient runs in the namespace: one ping and one TCP echo to
// LKL.
func childNetTapClient() error {
	if err := ping(tapLKLIP); err != nil {
		return fmt.Errorf("ping %s: %w", tapLKLIP, err)
	}
	c, err := net.DialTimeout("tcp", tapLKLIP+":80", 10*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return echo(c, c.(*net.TCPConn).CloseWrite, payload())
}

// ping sends one ICMP echo request on a raw socket and waits for the
// reply.
func ping(ip string) error {
	c, err := net.ListenPacket("ip4:icmp", "0.0.0.0")
	if err != nil {
		return err
	}
	defer c.Close()
	req := []byte{8, 0, 0, 0, 0x12, 0x34, 0, 1, 'g', 'k'} // echo request, id 0x1234, seq 1
	binary.BigEndian.PutUint16(req[2:], inetChecksum(req))
	if _, err := c.WriteTo(req, &net.IPAddr{IP: net.ParseIP(ip)}); err != nil {
		return err
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 1500)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			return err
		}
		// An echo reply (type 0) with our id, from LKL.
		if from.String() == ip && n >= 8 && buf[0] == 0 && buf[4] == 0x12 && buf[5] == 0x34 {
			return nil
		}
		if n == 0 {
			return errors.New("empty ICMP packet")
		}
	}
}

func inetChecksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}
