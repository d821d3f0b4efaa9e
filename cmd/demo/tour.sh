#!/usr/bin/env bash
# The tour behind "make demo": each step runs the demo binary and shows what
# one layer does, on the host kernel and on LKL. BIN is the directory holding
# demo and gkbench (eloop's echo server and its load generator are the
# benchmark tool's), built with -tags lkl (make demo does that).
set -euo pipefail
demo="$(cd "${BIN:-.build/bin}" && pwd)/demo"
gkbench="$(cd "${BIN:-.build/bin}" && pwd)/gkbench"

bold='' plain=''
if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; fi

step() {
	printf '\n%s== %s%s\n$ %s\n' "$bold" "$1" "$plain" "${*:2}"
	"${@:2}"
}

work=$(mktemp -d)
serve_pid=
trap '[ -z "$serve_pid" ] || kill "$serve_pid" 2>/dev/null; rm -rf "$work"' EXIT

step "Kernels this binary can run, and which GOKERNEL selects" "$demo" kernels
step "jskernel's libsys example: one raw write(2) on the host kernel" "$demo" hello
step "The same binary on LKL, a Linux kernel inside this process" env GOKERNEL=lkl "$demo" hello
step "Every call goes through sys.Syscall, so it can be traced (here on LKL)" env GOKERNEL=lkl "$demo" trace -- hello
step "An unknown kernel name fails at once, with what to do" \
	bash -c "GOKERNEL=plan9 '$demo' hello || echo \"(exit status \$?, as expected)\""

# The eloop stream server (gkbench echo), driven by the load generator from
# another process (host), and by one inside its own process over LKL's
# loopback.
"$gkbench" echo -api loop > "$work/echo.out" &
echo_pid=$!
for _ in $(seq 100); do grep -q 'listening on' "$work/echo.out" 2>/dev/null && break; sleep 0.05; done
addr=$(sed -n 's/^listening on //p' "$work/echo.out")
step "eloop's stream server on the host, 16 connections for 1 s, every byte checked" \
	"$gkbench" load -addr "$addr" -conns 16 -size 64 -duration 1s -server-pid "$echo_pid"
kill "$echo_pid"; wait "$echo_pid" || true
step "The same server on LKL, loaded from inside the process over LKL's TCP/IP stack" \
	env GOKERNEL=lkl "$gkbench" echo -api loop -self-load -conns 8 -size 64 -duration 1s

# An ext4 image made from a directory, without root and without mounting
# anything on the host; LKL mounts it inside the process.
mkdir -p "$work/root/docs"
echo "hello from inside an ext4 image" > "$work/root/docs/hello.txt"
truncate -s 32M "$work/disk.img"
PATH="$PATH:/usr/sbin:/sbin" mke2fs -q -F -t ext4 -d "$work/root" "$work/disk.img"
cat > "$work/lkl.json" <<JSON
{"disks": [{"path": "disk.img", "readonly": true, "mountpoint": "/mnt/disk"}]}
JSON
step "libgo, the libc: uname, pid, cwd and mounts on the host" "$demo" sysinfo
step "The same libgo calls on LKL (pid 1, its own mount table)" env GOKERNEL=lkl "$demo" sysinfo
step "jskernel's blocking echo server, with a client in the same process, on the host" "$demo" echo-blocking -selftest
step "...and over LKL's own TCP/IP stack (its loopback)" env GOKERNEL=lkl "$demo" echo-blocking -selftest
step "net/http's FileServer on a unet listener, one request through unet, on the host" \
	"$demo" http "$work/root/docs" -listen 127.0.0.1:0 -get /hello.txt
step "...and the same request answered by LKL's TCP/IP stack over its loopback" \
	env GOKERNEL=lkl "$demo" http "$work/root/docs" -listen 127.0.0.1:0 -get /hello.txt

step "LKL boots with the image mounted read-only and reads a file with raw syscalls" \
	env GOKERNEL=lkl GOKERNEL_CONFIG="$work/lkl.json" "$demo" readfile /mnt/disk/docs/hello.txt
step "What the LKL kernel says about itself" env GOKERNEL=lkl GOKERNEL_CONFIG="$work/lkl.json" "$demo" lkl-info

# The image tools boot LKL themselves, with the image attached, and use ufs
# (io/fs on LKL's file systems); the host mounts nothing.
step "ufs on LKL: list a directory inside the image" "$demo" ls "$work/disk.img" /docs
step "...read a file out of it" "$demo" cat "$work/disk.img" /docs/hello.txt
mkdir -p "$work/out"
step "...copy a file into the image (cptofs) and the tree back out (cpfromfs)" bash -c \
	"cp '$work/disk.img' '$work/rw.img' && echo 'written through ufs on LKL' > '$work/note.txt' &&
	 '$demo' cp-in --readonly=false '$work/rw.img' '$work/note.txt' /docs &&
	 '$demo' cp-out '$work/rw.img' /docs '$work/out' && ls -l '$work/out/docs' && cat '$work/out/docs/note.txt'"
step "...and tar it (fs2tar), listed by the host's tar" bash -c "'$demo' tar '$work/disk.img' | tar tvf -"

# Disks from anywhere (package disk): the same image as qcow2, read by
# gokernel's own qcow2 reader; over HTTP Range requests from a local
# server (demo http on the host kernel); and as a vmdk that qemu-nbd serves
# to gokernel's NBD client. LKL mounts each one; nothing is mounted on the
# host.
if command -v qemu-img >/dev/null; then
	qemu-img convert -O qcow2 "$work/disk.img" "$work/disk.qcow2"
	step "A qcow2 image (qemu-img convert), read by disk/qcow2" "$demo" ls "$work/disk.qcow2" /docs
	step "...written through a copy-on-write overlay: the qcow2 file is never changed" bash -c \
		"sha256sum '$work/disk.qcow2' && '$demo' cp-in --readonly=false --overlay '$work/disk.ovl' '$work/disk.qcow2' '$work/note.txt' /docs &&
		 '$demo' cat --overlay '$work/disk.ovl' '$work/disk.qcow2' /docs/note.txt && sha256sum '$work/disk.qcow2'"
	"$demo" http "$work" -listen 127.0.0.1:0 > "$work/http.out" 2>&1 &
	http_pid=$!
	for _ in $(seq 200); do grep -q '^listening on ' "$work/http.out" 2>/dev/null && break; sleep 0.05; done
	haddr=$(sed -n 's/^listening on //p' "$work/http.out")
	if [ -n "$haddr" ]; then
		step "An image on a web server, read with Range requests (disk/httpdisk)" "$demo" ls "http://$haddr/disk.img" /docs
	fi
	kill -TERM "$http_pid" 2>/dev/null; wait "$http_pid" 2>/dev/null || true
	if command -v qemu-nbd >/dev/null; then
		qemu-img convert -O vmdk "$work/disk.img" "$work/disk.vmdk"
		qemu-nbd --read-only --persistent --format=vmdk --socket="$work/nbd.sock" "$work/disk.vmdk" &
		nbd_pid=$!
		for _ in $(seq 200); do [ -S "$work/nbd.sock" ] && break; sleep 0.05; done
		step "A vmdk served by qemu-nbd, read by gokernel's NBD client (disk/nbd)" "$demo" ls "nbd+unix:///?socket=$work/nbd.sock" /docs
		kill "$nbd_pid" 2>/dev/null; wait "$nbd_pid" 2>/dev/null || true
	fi
else
	echo "(disk sources left out: no qemu-img; apt-get install qemu-utils)"
fi

# Volumes (package disk/volume): the common server layout, GPT → partition 3
# → LVM PV → LV vg/root → ext4, made with lvm2's tools on a loop device
# (metadata only: no device mapper), then opened with one flag. LVM needs a
# loop device, so root.
if [ "$(id -u)" = 0 ] && PATH="$PATH:/usr/sbin:/sbin" command -v pvcreate >/dev/null; then
	export PATH="$PATH:/usr/sbin:/sbin"
	truncate -s 100M "$work/lvm.img"
	printf 'label: gpt\nstart=1MiB,size=1MiB,type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B\nstart=2MiB,size=2MiB\nstart=4MiB,size=90MiB,type=E6D6D379-F507-44C2-A23C-238F2A3DF928\n' |
		sfdisk -q "$work/lvm.img"
	loop=$(losetup -f --show --offset $((4 << 20)) --sizelimit $((90 << 20)) "$work/lvm.img")
	lvm_tour() {
		pvcreate -q --devices "$loop" "$loop" &&
			vgcreate -q --devices "$loop" vg "$loop" &&
			lvcreate -q --devices "$loop" -an -Zn --driverloaded n -n root -L 40M vg 2>/dev/null &&
			pe_start=$(pvs --devices "$loop" --noheadings --units b --nosuffix -o pe_start "$loop" | tr -d ' ') &&
			dd if="$work/disk.img" of="$loop" bs=1M oflag=seek_bytes seek="$pe_start" conv=notrunc,fsync status=none
	}
	if LVM_SUPPRESS_FD_WARNINGS=1 lvm_tour >/dev/null 2>"$work/lvm.err"; then
		losetup -d "$loop"
		step "An LVM logical volume inside a GPT partition, opened by name (disk/part, disk/lvm)" \
			"$demo" ls --volume vg/root "$work/lvm.img" /docs
	else
		losetup -d "$loop"
		echo "(LVM step left out: lvm2 failed here)"; cat "$work/lvm.err"
	fi
else
	echo "(LVM step left out: needs root for a loop device, and lvm2)"
fi

# Any program on the image: demo mount serves it through the host's FUSE
# (mount(2) as root, fusermount3 otherwise), LKL's ext4 driver behind it,
# and the host's own ls and cat read it.
if [ -e /dev/fuse ] && { [ "$(id -u)" = 0 ] || command -v fusermount3 >/dev/null; }; then
	mkdir -p "$work/mnt"
	unmount_tour() { if mountpoint -q "$work/mnt"; then fusermount3 -u "$work/mnt" 2>/dev/null || umount -l "$work/mnt"; fi; }
	tour_exit=$(trap -p EXIT | sed "s/^trap -- '//; s/' EXIT\$//")
	trap 'unmount_tour; eval "$tour_exit"' EXIT
	printf '\n%s== %s%s\n$ %s\n' "$bold" "FUSE: the image mounted for every program (lklfuse)" "$plain" "demo mount -o ro disk.img mnt &"
	"$demo" mount -o ro "$work/disk.img" "$work/mnt" > "$work/mount.out" 2>&1 &
	mount_pid=$!
	for _ in $(seq 200); do # at most 10 s
		grep -q '^mounted ' "$work/mount.out" 2>/dev/null && break
		kill -0 "$mount_pid" 2>/dev/null || break
		sleep 0.05
	done
	cat "$work/mount.out"
	step "...listed by the host's ls" ls -lR "$work/mnt"
	step "...a file read by the host's cat" cat "$work/mnt/docs/hello.txt"
	step "...unmounted from outside: demo mount unmounts inside LKL and halts" unmount_tour
	wait "$mount_pid" && echo "demo mount exited cleanly"
else
	echo "(demo mount left out: no /dev/fuse, or not root and no fusermount3)"
fi

# The whole stack in one command: LKL mounts the image read-only (ufs), its
# TCP/IP stack serves it with net/http's FileServer on a unet listener at
# 10.0.2.15:80, and a host port is forwarded into it over the user network.
printf '\n%s== %s%s\n$ %s\n' "$bold" "The whole stack: the image served over HTTP from inside LKL, a host port forwarded in" "$plain" \
	"demo serve disk.img -listen 127.0.0.1:0 &"
"$demo" serve "$work/disk.img" -listen 127.0.0.1:0 > "$work/serve.out" 2>&1 &
serve_pid=$!
for _ in $(seq 200); do # at most 10 s
	grep -q '^serving ' "$work/serve.out" 2>/dev/null && break # the line after "listening on"
	kill -0 "$serve_pid" 2>/dev/null || break
	sleep 0.05
done
addr=$(sed -n 's/^listening on //p' "$work/serve.out")
sed 1d "$work/serve.out"
if [ -z "$addr" ]; then
	echo "demo serve did not start" >&2
	exit 1
fi
echo "Open http://$addr/ in a browser while the tour runs; one fetch:"
if command -v curl >/dev/null; then
	step "...a file of the image, fetched by curl through the forward" curl -sS --max-time 10 "http://$addr/docs/hello.txt"
else
	step "...a file of the image, fetched through the forward (demo serve -get)" \
		"$demo" serve "$work/disk.img" -listen 127.0.0.1:0 -get /docs/hello.txt
fi
kill -TERM "$serve_pid"
for _ in $(seq 100); do kill -0 "$serve_pid" 2>/dev/null || break; sleep 0.1; done # at most 10 s
kill -KILL "$serve_pid" 2>/dev/null || true
wait "$serve_pid" && echo "demo serve stopped cleanly (SIGTERM: shutdown, LKL halted)"
serve_pid=

# demo run (docs/run.md): unmodified programs with their sockets and the
# image on LKL, through seccomp user notification; a static Go binary too.
step "demo run: Debian's ls, unmodified, lists the image mounted in LKL" \
	"$demo" run --mount "$work/disk.img:/mnt/disk:ro" -- ls -l /mnt/disk/docs
step "...ip addr: the program's netlink socket is LKL's" "$demo" run -- ip -brief addr
mkdir -p "$work/www" && echo "a page on the host" > "$work/www/page.txt"
head -c 1024 /dev/urandom > "$work/www/body.bin" # what gkbench http -self-load fetches
"$gkbench" http "$work/www" -api net -listen 127.0.0.1:0 > "$work/http.out" 2>&1 &
http_pid=$!
for _ in $(seq 100); do grep -q 'listening on' "$work/http.out" 2>/dev/null && break; sleep 0.05; done
port=$(sed -n 's/^listening on .*://p' "$work/http.out")
if command -v curl >/dev/null; then
	step "...curl, its TCP/IP on LKL, reaches the host's 127.0.0.1:$port as 10.0.2.2 (user network NAT)" \
		"$demo" run -- curl -sS "http://10.0.2.2:$port/page.txt"
fi
(cd "$(dirname "$0")/../.." && CGO_ENABLED=0 go build -o "$work/gkbench-static" ./cmd/gkbench)
step "...a static Go binary (gkbench, CGO_ENABLED=0): net/http server and 8 clients over LKL's loopback for 1 s" \
	"$demo" run -- "$work/gkbench-static" http "$work/www" -api net -listen 127.0.0.1:0 -self-load -clients 8 -duration 1s
kill "$http_pid"; wait "$http_pid" || true
