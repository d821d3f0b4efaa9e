//go:build lkl && amd64

package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gokernel/gokernel/internal/cli/clitest"
	"github.com/gokernel/gokernel/internal/imagetest"
)

// fileSHA256 is the hex SHA-256 of a file.
func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// TestRunImage: Debian's coreutils and tar, unmodified, read a read-only
// ext4 image mounted in LKL under demo run; the image is unchanged.
func TestRunImage(t *testing.T) {
	big := strings.Repeat("gokernel demo run\n", 20000)
	img := imagetest.Build(t, "ext4", imagetest.Tree{"a.txt": "hello from the image\n", "sub/big.txt": big})
	before := fileSHA256(t, img)
	bigSum := sha256.Sum256([]byte(big))
	dst := filepath.Join(t.TempDir(), "copy.txt")
	mount := []string{"run", "--mount", img + ":/mnt/img:ro", "--"}
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{name: "cat", args: []string{"cat", "/mnt/img/a.txt"}, want: []string{"hello from the image\n"}},
		{name: "ls -l", args: []string{"ls", "-l", "/mnt/img", "/mnt/img/sub"}, want: []string{"a.txt", "lost+found", "sub", fmt.Sprint(len(big)), "big.txt"}},
		{name: "sha256sum", args: []string{"sha256sum", "/mnt/img/sub/big.txt"}, want: []string{hex.EncodeToString(bigSum[:]) + "  /mnt/img/sub/big.txt"}},
		{name: "tar c", args: []string{"tar", "cf", "-", "/mnt/img/sub"}, want: []string{"mnt/img/sub/big.txt", "gokernel demo run\n"}},
		{name: "cp", args: []string{"cp", "/mnt/img/sub/big.txt", dst}},
		// A working directory in LKL: relative paths, getcwd, back to the host.
		{name: "sh: cd into the image and out", args: []string{"sh", "-c", "cd /mnt/img/sub && pwd && ls -l && wc -c big.txt && cd .. && cat a.txt && cd / && pwd"},
			want: []string{"/mnt/img/sub\n", "big.txt", fmt.Sprintf("%d big.txt\nhello from the image\n/\n", len(big))}},
		{name: "tar -C", args: []string{"tar", "-C", "/mnt/img", "-cf", "-", "sub"}, want: []string{"sub/big.txt", "gokernel demo run\n"}},
		{name: "sh: forks, a pipe", args: []string{"sh", "-c", "cat /mnt/img/a.txt; ls /mnt/img | wc -l"}, want: []string{"hello from the image\n3\n"}},
		// A forked child gets copies of its parent's LKL fds, sharing the
		// file offset as fork's do.
		{name: "python3 fork", args: []string{"python3", "-c", `import os
f = os.open('/mnt/img/a.txt', os.O_RDONLY)
pid = os.fork()
if pid == 0:
    print('child', os.read(f, 3)); os._exit(0)
os.waitpid(pid, 0)
print('parent', os.read(f, 10))`}, want: []string{"child b'hel'\nparent b'lo from th'\n"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := demo(t, nil, append(mount, tc.args...)...)
			require.Equal(t, 0, code, "stderr: %s", stderr)
			for _, w := range tc.want {
				require.Contains(t, stdout, w)
			}
		})
	}
	got, err := os.ReadFile(dst)
	require.NoError(t, err)
	require.Equal(t, big, string(got), "cp copied the file out of the image")
	require.Equal(t, before, fileSHA256(t, img), "the read-only image is byte-identical")

	_, stderr, code := demo(t, nil, append(mount, "cat", "/mnt/img/nope")...)
	require.Equal(t, 1, code, "cat's status is demo run's")
	require.Contains(t, stderr, "No such file or directory")
}

// TestRunNetlink: ip addr and ip route show LKL's interfaces and routes
// (netlink sockets are LKL's).
func TestRunNetlink(t *testing.T) {
	stdout, stderr, code := demo(t, nil, "run", "--", "ip", "addr")
	require.Equal(t, 0, code, "stderr: %s", stderr)
	require.Contains(t, stdout, "inet 10.0.2.15/24")
	require.Contains(t, stdout, "eth0")
	stdout, stderr, code = demo(t, nil, "run", "--", "ip", "route")
	require.Equal(t, 0, code, "stderr: %s", stderr)
	require.Contains(t, stdout, "default via 10.0.2.2 dev eth0")
}

// TestRunBtrfs: btrfs-progs, whose ioctls carry nested pointers, on a
// btrfs image mounted in LKL.
func TestRunBtrfs(t *testing.T) {
	img := imagetest.Build(t, "btrfs", imagetest.Tree{"a.txt": "btrfs\n"})
	mount := []string{"run", "--mount", img + ":/mnt/b", "--"}
	_, stderr, code := demo(t, nil, append(mount, "btrfs", "subvolume", "create", "/mnt/b/sv")...)
	require.Equal(t, 0, code, "stderr: %s", stderr)
	stdout, stderr, code := demo(t, nil, append(mount, "btrfs", "subvolume", "list", "/mnt/b")...)
	require.Equal(t, 0, code, "stderr: %s", stderr)
	require.Contains(t, stdout, "path sv")
	stdout, stderr, code = demo(t, nil, append(mount, "btrfs", "filesystem", "df", "/mnt/b")...)
	require.Equal(t, 0, code, "stderr: %s", stderr)
	require.Contains(t, stdout, "Data")
	require.Contains(t, stdout, "Metadata")
}

// staticGoProgram builds a static Go program (CGO_ENABLED=0): a net/http
// server on 127.0.0.1 and a client of it, then a GET of its argument if
// any; it prints what the server and the argument's server said.
func staticGoProgram(t *testing.T) string {
	dir := t.TempDir()
	src := `package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
)

func get(url string) string {
	resp, err := http.Get(url)
	if err != nil {
		fmt.Println("get:", err)
		os.Exit(1)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func main() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println("listen:", err)
		os.Exit(1)
	}
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "served by a static Go binary") }))
	fmt.Println(get("http://" + ln.Addr().String() + "/"))
	if len(os.Args) > 1 {
		fmt.Print(get(os.Args[1]))
	}
}
`
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module static\n\ngo 1.22\n"), 0o644))
	bin := filepath.Join(dir, "static")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	return bin
}

// inNetns runs script with sh in a private network namespace (lo up),
// with $DEMO the command that runs demo: a program whose packets
// escaped LKL would have nowhere to go but this machine.
func inNetns(t *testing.T, script string) (string, int) {
	t.Helper()
	demoCmd := clitest.Command(asMain, nil)
	unshare := []string{"unshare", "-n"}
	if os.Getuid() != 0 {
		unshare = []string{"unshare", "-rn"}
	}
	cmd := exec.Command(unshare[0], append(unshare[1:], "sh", "-ec", "ip link set lo up\n"+script)...)
	cmd.Env = append(demoCmd.Env, "DEMO="+strings.Join(demoCmd.Args, " "))
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return string(out), code
}

// dnsServer is a DNS server in Python for TestRunNAT: every A query on
// 127.0.0.1:5353 gets 10.0.2.2 (the host, as LKL sees it), any other
// type no answer.
const dnsServer = `
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('127.0.0.1', 5353))
while True:
    q, a = s.recvfrom(512)
    end = 12
    while q[end]:
        end += q[end] + 1
    end += 5
    question = q[12:end]
    if q[end-4:end-2] == b'\x00\x01':
        r = q[:2] + b'\x81\x80' + q[4:6] + b'\x00\x01\x00\x00\x00\x00' + question + b'\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04' + bytes([10, 0, 2, 2])
    else:
        r = q[:2] + b'\x81\x80' + q[4:6] + b'\x00\x00\x00\x00\x00\x00' + question
    s.sendto(r, a)
`

// TestRunNAT: curl and a static Go binary under demo run reach an HTTP
// server on the host (10.0.2.2) through the user network's NAT, by
// address and by a name that the user network's DNS forwarder (10.0.2.3,
// which the programs find in LKL's /etc/resolv.conf) resolves through a
// DNS server on the host; the Go binary's own server and client talk over
// LKL's loopback.
func TestRunNAT(t *testing.T) {
	bin := staticGoProgram(t)
	out, code := inNetns(t, `
mkdir www && echo "page from the host" > www/index.html
cat > dns.py <<'END'
`+dnsServer+`
END
echo '{"interfaces":[{"type":"user","resolver":"127.0.0.1:5353"}]}' > lkl.json
python3 -m http.server --bind 127.0.0.1 --directory www 8000 >/dev/null 2>&1 &
srv=$!
python3 dns.py &
dns=$!
trap 'kill $srv $dns' EXIT
for i in $(seq 50); do curl -s http://127.0.0.1:8000/ >/dev/null && break; sleep 0.1; done
$DEMO run -- curl -sS http://10.0.2.2:8000/index.html
$DEMO run -- `+bin+` http://10.0.2.2:8000/index.html
$DEMO run --config lkl.json -- curl -sS http://www.host.test:8000/index.html
$DEMO run --config lkl.json -- `+bin+` http://www.host.test:8000/index.html
echo done
`)
	require.Equal(t, 0, code, "%s", out)
	once := "page from the host\nserved by a static Go binary\npage from the host\n" // curl, then the Go binary
	require.Equal(t, once+once+"done\n", out)
}

// TestRunResolvConf: with a network and no image mounted, LKL's
// /etc/resolv.conf reaches the program as a read-only bind mount in a
// mount namespace of its own, so no path call goes to the supervisor
// (--trace shows none; before, every open, stat and access did); the
// host's file is untouched and the copy is gone once the program runs.
func TestRunResolvConf(t *testing.T) {
	out, code := inNetns(t, `
sum=$(sha256sum /etc/resolv.conf)
mkdir tmp
TMPDIR=$PWD/tmp $DEMO run --trace -- sh -c 'cat /etc/resolv.conf; (echo x > /etc/resolv.conf) 2>/dev/null && echo written || echo refused; ls /etc/hostname; ls tmp | wc -l' 2>trace
grep -c 'openat\|stat\|access' trace || true
[ "$sum" = "$(sha256sum /etc/resolv.conf)" ] && echo host file unchanged
ls tmp | wc -l
`)
	require.Equal(t, 0, code, "%s", out)
	require.Equal(t, "nameserver 10.0.2.3\nrefused\n/etc/hostname\n0\n0\nhost file unchanged\n0\n", out)
}

// TestRunCloneFiles: a process made by clone with CLONE_FILES but not
// CLONE_THREAD shares its parent's fd table; the supervisor keeps one
// table per process, so it refuses that process's calls (EOPNOTSUPP,
// traced once) instead of answering them from a copy that would drift
// from its parent's. The parent goes on.
func TestRunCloneFiles(t *testing.T) {
	img := imagetest.Build(t, "ext4", imagetest.Tree{"hi.txt": "hi\n"})
	out, code := inNetns(t, `
cat > clonefiles.py <<'END'
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
fd = os.open(sys.argv[1], os.O_RDONLY)
CLONE_FILES, SIGCHLD = 0x400, 17
pid = libc.syscall(56, CLONE_FILES | SIGCHLD, 0, 0, 0, 0)  # clone
if pid == 0:
    try:
        os.read(fd, 3)
        os._exit(0)
    except OSError as e:
        os._exit(e.errno)
_, st = os.waitpid(pid, 0)
print("child:", os.waitstatus_to_exitcode(st))
print("parent:", os.read(fd, 3))
END
$DEMO run --trace --mount `+img+`:/mnt/img:ro -- python3 clonefiles.py /mnt/img/hi.txt 2>trace
grep -c 'not handled: read: a process sharing its parent' trace
`)
	require.Equal(t, 0, code, "%s", out)
	require.Equal(t, "child: 95\nparent: b'hi\\n'\n1\n", out, "EOPNOTSUPP in the child, the parent's read answered")
}

// TestRunForward: python3 -m http.server under demo run serves a directory
// of an ext4 image mounted in LKL, and the host's curl reaches it through
// a port forward.
func TestRunForward(t *testing.T) {
	img := imagetest.Build(t, "ext4", imagetest.Tree{"index.html": "served from the image\n"})
	out, code := inNetns(t, `
$DEMO run --mount `+img+`:/mnt/img:ro --forward tcp:127.0.0.1:8080:8000 -- python3 -m http.server --bind 0.0.0.0 --directory /mnt/img 8000 >log 2>&1 &
srv=$!
trap 'kill $srv' EXIT
for i in $(seq 100); do curl -s http://127.0.0.1:8080/index.html >/dev/null 2>&1 && break; sleep 0.1; done
curl -sS http://127.0.0.1:8080/index.html || cat log
echo done
`)
	require.Equal(t, 0, code, "%s", out)
	require.Equal(t, "served from the image\ndone\n", out)
}

// TestRunRedirect: a shell's redirections from and into files of an image
// mounted in LKL (the program gets a pipe the supervisor pumps), and what
// was written is in the image afterwards; each write is whole before the
// next command reads the file.
func TestRunRedirect(t *testing.T) {
	img := imagetest.Build(t, "ext4", imagetest.Tree{"a.txt": "from the image\n"})
	stdout, stderr, code := demo(t, nil, "run", "--mount", img+":/mnt/w", "--", "sh", "-c", `
for i in 1 2 3; do seq 1 100000 > /mnt/w/seq.txt; wc -l /mnt/w/seq.txt; done
wc -c < /mnt/w/seq.txt
cat < /mnt/w/a.txt
cd /mnt/w && echo appended >> a.txt && tail -n 1 < seq.txt`)
	require.Equal(t, 0, code, "stderr: %s", stderr)
	require.Equal(t, strings.Repeat("100000 /mnt/w/seq.txt\n", 3)+"588895\nfrom the image\n100000\n", stdout)
	stdout, stderr, code = demo(t, nil, "run", "--mount", img+":/mnt/w:ro", "--", "cat", "/mnt/w/a.txt")
	require.Equal(t, 0, code, "stderr: %s", stderr)
	require.Equal(t, "from the image\nappended\n", stdout, "the image kept the writes")
}

// TestRunConfig: --config's disks with a mount point are directories of
// LKL for the program, as --mount's are, and its network is what it says
// (here none but loopback).
func TestRunConfig(t *testing.T) {
	img := imagetest.Build(t, "ext4", imagetest.Tree{"conf.txt": "from a config disk\n"})
	cfg := filepath.Join(t.TempDir(), "lkl.json")
	require.NoError(t, os.WriteFile(cfg, []byte(`{"disks":[{"path":"`+img+`","readonly":true,"mountpoint":"/mnt/c"}]}`), 0o644))
	stdout, stderr, code := demo(t, nil, "run", "--config", cfg, "--", "sh", "-c", "cat /mnt/c/conf.txt; ip -o link | wc -l")
	require.Equal(t, 0, code, "stderr: %s", stderr)
	require.Equal(t, "from a config disk\n2\n", stdout, "the file, then lo and sit0: no eth0")
}

// TestRunAsyncio: Python's asyncio, whose epoll holds its self-pipe (a host
// AF_UNIX socket pair) and the program's LKL sockets: a mixed set, served
// on both kernels at once. An echo server and 20 clients over LKL's
// loopback.
func TestRunAsyncio(t *testing.T) {
	stdout, stderr, code := demo(t, nil, "run", "--", "python3", "-c", `
import asyncio
async def handle(r, w):
    w.write(await r.readline()); await w.drain(); w.close()
async def main():
    srv = await asyncio.start_server(handle, '127.0.0.1', 0)
    port = srv.sockets[0].getsockname()[1]
    for i in range(20):
        r, w = await asyncio.open_connection('127.0.0.1', port)
        w.write(b'ping %d\n' % i); await w.drain()
        line = await r.readline(); w.close()
    print('last', line.decode().strip())
    srv.close(); await srv.wait_closed()
asyncio.run(main())`)
	require.Equal(t, 0, code, "stderr: %s", stderr)
	require.Equal(t, "last ping 19\n", stdout)
}

// TestRunSelect: perl's four-argument select, whose vec() bitmaps grow to
// the fd (2^20 for LKL's), on an LKL socket and a host pipe in one set;
// and the same with the socket bridged (a host fd: the host's select).
func TestRunSelect(t *testing.T) {
	for _, mode := range []string{"lkl", "bridge"} {
		t.Run(mode, func(t *testing.T) {
			stdout, stderr, code := demo(t, nil, "run", "--sockets="+mode, "--", "perl", "-e", selectScript)
			require.Equal(t, 0, code, "stderr: %s", stderr)
			kind := map[string]string{"lkl": "lkl", "bridge": "host"}[mode]
			require.Equal(t, "socket "+kind+"\nidle 0 0,0\nsocket 1 1,0\npipe 1 0,1\n", stdout)
		})
	}
}

// selectScript is TestRunSelect's perl program.
const selectScript = `
use strict; use IO::Socket::INET; use IO::Handle;
pipe(my $pr, my $pw) or die; $pw->autoflush(1);
my $ln = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp') or die "listen: $!";
my $cl = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $ln->sockport, Proto => 'tcp') or die "connect: $!";
my $srv = $ln->accept or die "accept: $!";
print "socket ", fileno($srv) >= 1<<20 ? "lkl" : "host", "\n";
sub sel {
    my ($t, @fds) = @_; my $rin = ''; vec($rin, fileno($_), 1) = 1 for @fds;
    my $n = select(my $rout = $rin, undef, undef, $t); die "select: $!" if $n < 0;
    return "$n " . join ',', map { vec($rout, fileno($_), 1) } @fds;
}
print "idle ", sel(0.05, $srv, $pr), "\n";
syswrite($cl, "hi\n"); print "socket ", sel(5, $srv, $pr), "\n"; sysread($srv, my $b, 3);
syswrite($pw, "x"); print "pipe ", sel(5, $srv, $pr), "\n";`

// TestRunPing: iputils' ping under demo run, in a network namespace of
// its own: over LKL's loopback with a raw socket (LKL's default
// net.ipv4.ping_group_range allows no ICMP datagram socket: ping falls
// back), with an ICMP datagram socket once the config's sysctl allows
// them, and to the user network's gateway (10.0.2.2), which answers.
func TestRunPing(t *testing.T) {
	out, code := inNetns(t, `
echo '{"sysctl":"net.ipv4.ping_group_range=0 2147483647","interfaces":[{"type":"user"}]}' > ping.json
$DEMO run --trace -- ping -n -c 1 -W 5 127.0.0.1 2>trace1 | grep -o '1 received'
grep -c 'socket(0x2, 0x3, 0x1.*\[lkl\]' trace1
$DEMO run --config ping.json --trace -- ping -n -c 1 -W 5 127.0.0.1 2>trace2 | grep -o '1 received'
grep -c 'socket(0x2, 0x2, 0x1.*) = 1048576 .*\[lkl\]' trace2
$DEMO run -- ping -n -c 1 -W 5 10.0.2.2 2>/dev/null | grep -o '1 received'
echo done
`)
	require.Equal(t, 0, code, "%s", out)
	require.Equal(t, "1 received\n1\n1 received\n1\n1 received\ndone\n", out, "raw socket, then an ICMP datagram socket, then the gateway")
}
