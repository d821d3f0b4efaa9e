#!/usr/bin/env bash
# Build liblkl.a + headers from the npm package lkl@$LKL_VERSION, or reuse the
# finished build cached under ${XDG_CACHE_HOME:-$HOME/.cache}/gokernel/lkl/HASH,
# and install it into OUT. Called by the Makefile next to this file:
#
#   build.sh HASH OUT
#
# Cache layout (outside the clone):
#   gokernel/lkl/dl/lkl-VERSION.tgz   the npm tarball (integrity checked on use)
#   gokernel/lkl/HASH/                a finished build: lib/ include/ config STAMP
#   gokernel/lkl/.tmp-HASH-*/         a build in progress (renamed to HASH/ when
#                                     complete, so HASH/ is never half-written)
#   gokernel/lkl/failed-HASH.log      log of the last failed build
set -euo pipefail

hash=${1:?usage: build.sh HASH OUT}
out=${2:?usage: build.sh HASH OUT}
version=${LKL_VERSION:-1.0.3}
# npm's "integrity" for lkl@1.0.3: base64 of the sha512 of the .tgz.
integrity=sha512-x9RxwXaQbeEsKs0Qd0tZWZiJrxnkUxueGY56ZrHisLmzugtFgcVKqhB5k5H2I9C6aQIBa2UUEyy/9zWcAjAaqQ==
[ "$version" = 1.0.3 ] || { echo "lkl: error: build.sh pins lkl@1.0.3, got $version" >&2; exit 1; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# Don't let the caller's make (root Makefile flags, jobserver, variables passed
# on its command line) or compiler environment leak into the kernel build.
unset MAKEFLAGS MFLAGS GNUMAKEFLAGS MAKELEVEL MAKEOVERRIDES CFLAGS CPPFLAGS \
	CXXFLAGS LDFLAGS LDLIBS CC LD AR CROSS_COMPILE KBUILD_OUTPUT KCFLAGS \
	KCPPFLAGS KAFLAGS O V C W
if [ -z "${XDG_CACHE_HOME:-}" ] && [ -z "${HOME:-}" ]; then
	echo "lkl: error: neither XDG_CACHE_HOME nor HOME is set; cannot place the build cache" >&2
	exit 1
fi
cache_root=${XDG_CACHE_HOME:-$HOME/.cache}/gokernel/lkl
entry=$cache_root/$hash
jobs=$(nproc 2>/dev/null || echo 2)

log() { echo "lkl: $*" >&2; }
die() { echo "lkl: error: $*" >&2; exit 1; }

need() {
	command -v "$1" >/dev/null 2>&1 || die "'$1' not found; $2"
}

# --- install a finished cache entry into OUT, atomically ----------------------
install_out() {
	local parent tmp
	parent=$(dirname "$out")
	mkdir -p "$parent"
	tmp=$(mktemp -d "$parent/.lkl-install-XXXXXX")
	# Hard links are cheap; the cache entry is never written again. Fall back
	# to a copy when the cache is on another filesystem.
	if ! cp -al "$entry/." "$tmp/" 2>/dev/null; then
		rm -rf "$tmp" && mkdir "$tmp"
		cp -a "$entry/." "$tmp/"
	fi
	chmod 755 "$tmp"
	rm -rf "$out.old"
	if [ -e "$out" ]; then mv "$out" "$out.old"; fi
	mv "$tmp" "$out"
	rm -rf "$out.old"
}

entry_ok() {
	[ -f "$entry/lib/liblkl.a" ] && [ "$(cat "$entry/STAMP" 2>/dev/null)" = "$hash" ]
}

mkdir -p "$cache_root/dl"
need flock "install util-linux"
exec 9>"$cache_root/.lock-$hash"
if ! flock -n 9; then
	log "another build of $hash is running; waiting for it"
	flock 9
fi

if entry_ok; then
	log "using cached build $entry"
	install_out
	exit 0
fi

# --- tools ----------------------------------------------------------------------
need openssl "install openssl to verify the npm tarball"
need base64 "install coreutils"
need tar "install tar"
need gzip "install gzip"
need gcc "install gcc (Debian: apt-get install build-essential)"
need make "install make"
need ld "install binutils"
need objcopy "install binutils"
need ar "install binutils"
need python3 "install python3 (the LKL header installer is a Python script)"
need bc "install bc (the kernel build uses it for timeconst.h)"
need perl "install perl"
need awk "install gawk or mawk"

# --- fetch and verify the npm tarball ------------------------------------------
tgz=$cache_root/dl/lkl-$version.tgz
sri() { echo "sha512-$(openssl dgst -sha512 -binary "$1" | base64 -w0)"; }

if [ -f "$tgz" ] && [ "$(sri "$tgz")" = "$integrity" ]; then
	log "using cached $tgz"
else
	if [ -f "$tgz" ]; then
		log "cached $tgz fails the integrity check; fetching it again"
		rm -f "$tgz"
	fi
	need npm "install Node.js and npm (Debian: apt-get install npm) to fetch lkl@$version"
	log "fetching lkl@$version with npm pack"
	dl=$(mktemp -d "$cache_root/dl/.npm-XXXXXX")
	if ! (cd "$dl" && npm pack --silent "lkl@$version") >"$dl/npm.log" 2>&1; then
		cat "$dl/npm.log" >&2
		rm -rf "$dl"
		die "npm pack lkl@$version failed (see above)"
	fi
	[ -f "$dl/lkl-$version.tgz" ] || { rm -rf "$dl"; die "npm pack did not produce lkl-$version.tgz"; }
	got=$(sri "$dl/lkl-$version.tgz")
	if [ "$got" != "$integrity" ]; then
		rm -rf "$dl"
		die "INTEGRITY MISMATCH for lkl@$version from npm: expected $integrity, got $got; refusing to build"
	fi
	mv -f "$dl/lkl-$version.tgz" "$tgz"
	rm -rf "$dl"
fi

# --- build in a throw-away tree ------------------------------------------------
# Leftovers of interrupted builds (their lock is free, since we hold ours and
# any other holder of this hash would still be running).
rm -rf "$cache_root/.tmp-$hash-"*
work=$(mktemp -d "$cache_root/.tmp-$hash-XXXXXX")
buildlog=$work/build.log
finish() {
	local rc=$?
	if [ $rc -ne 0 ] && [ -f "$buildlog" ]; then
		cp -f "$buildlog" "$cache_root/failed-$hash.log" || true
		echo "lkl: ---- last lines of the build log ----" >&2
		tail -n 40 "$buildlog" >&2 || true
		echo "lkl: build FAILED; full log: $cache_root/failed-$hash.log" >&2
	fi
	if [ -n "${LKL_KEEP_WORK:-}" ]; then
		echo "lkl: LKL_KEEP_WORK set: keeping $work" >&2
	else
		rm -rf "$work"
	fi
}
trap finish EXIT

start=$(date +%s)
run() { # run STEP-NAME CMD...: log output to the build log, stop on failure
	local step=$1; shift
	echo "==== $step: $*" >>"$buildlog"
	"$@" >>"$buildlog" 2>&1 || die "step '$step' failed"
}

log "building in $work (${jobs} jobs; takes a few minutes)"
log "[1/6] unpacking"
tar -xzf "$tgz" -C "$work" package/src/linux
mv "$work/package/src/linux" "$work/linux"
rm -rf "$work/package"
src=$work/linux

log "[2/6] applying build-time fixes (fixes.sh)"
run fixes bash "$here/fixes.sh" "$src"

log "[3/6] configuring: arch/lkl/defconfig + gokernel.config"
run defconfig make -C "$src" ARCH=lkl defconfig
cat "$here/gokernel.config" >>"$src/.config"
run olddefconfig make -C "$src" ARCH=lkl olddefconfig
missing=()
while IFS= read -r line; do
	case $line in
	CONFIG_*=*)
		grep -qxF -- "$line" "$src/.config" || missing+=("$line (have: $(grep -E "^(# )?${line%%=*}[= ]" "$src/.config" || echo absent))")
		;;
	"# CONFIG_"*" is not set")
		sym=${line#\# }; sym=${sym%% *}
		! grep -q "^$sym=" "$src/.config" || missing+=("$line (have: $(grep "^$sym=" "$src/.config"))")
		;;
	esac
done <"$here/gokernel.config"
if [ ${#missing[@]} -gt 0 ]; then
	printf 'lkl:   wanted but not in .config: %s\n' "${missing[@]}" >&2
	die "kernel config check failed (${#missing[@]} option(s))"
fi

log "[4/6] building the kernel (lkl.o) and its headers"
# KALLSYMS_EXTRA_PASS as in node-lkl's own build: avoids "Inconsistent
# kallsyms data" failures.
run kernel make -C "$src" ARCH=lkl KALLSYMS_EXTRA_PASS=1 -j"$jobs" install INSTALL_PATH="$src/tools/lkl"
# The kernel linker script folds .note.GNU-stack into .notes, so lkl.o has no
# GNU-stack note and ld would give every program linking it an executable
# stack. Add an empty (non-executable) one.
run gnu-stack objcopy --add-section .note.GNU-stack=/dev/null \
	--set-section-flags .note.GNU-stack=contents,readonly "$src/tools/lkl/lib/lkl.o"

log "[5/6] building liblkl.a"
run tools make -C "$src/tools/lkl" -j"$jobs" static

log "[6/6] collecting and checking"
stage=$work/out
mkdir -p "$stage/lib" "$stage/include"
cp "$src/tools/lkl/liblkl.a" "$stage/lib/"
cp "$src/tools/lkl/include/lkl.h" "$src/tools/lkl/include/lkl_host.h" "$stage/include/"
cp -r "$src/tools/lkl/include/lkl" "$stage/include/"
# Host-library header declaring lkl_register_netdev_fd (exported by liblkl.a).
cp "$src/tools/lkl/lib/virtio_net_fd.h" "$stage/include/"
cp "$src/.config" "$stage/config"

nm -g --defined-only "$stage/lib/liblkl.a" >"$work/symbols" 2>/dev/null
for sym in lkl_start_kernel lkl_sys_halt lkl_syscall lkl_host_ops lkl_disk_add \
	lkl_mount_dev lkl_umount_dev lkl_netdev_add lkl_if_up lkl_strerror \
	lkl_register_netdev_fd; do
	grep -q " $sym\$" "$work/symbols" || die "liblkl.a does not define $sym"
done
grep -rq '__lkl__NR_openat' "$stage/include/lkl" || die "no __lkl__NR_openat in the generated headers"

# Smoke test: compile against the staged headers, link the archive, boot, halt.
cat >"$work/smoke.c" <<'EOF'
#include <fcntl.h>
#include <stdio.h>
#include <lkl.h>
#include <lkl_host.h>
#include <virtio_net_fd.h>
int main(void)
{
	long ret, pid;

	lkl_host_ops.print = NULL;
	ret = lkl_start_kernel(&lkl_host_ops, 32UL << 20, "");
	if (ret < 0) { fprintf(stderr, "boot: %s\n", lkl_strerror(ret)); return 1; }
	pid = lkl_sys_getpid();
	if (pid != 1) { fprintf(stderr, "getpid = %ld\n", pid); return 1; }
	ret = lkl_sys_halt();
	if (ret < 0) { fprintf(stderr, "halt: %s\n", lkl_strerror(ret)); return 1; }
	return 0;
}
EOF
run smoke-build gcc -Wall -Werror -o "$work/smoke" "$work/smoke.c" -I"$stage/include" \
	"$stage/lib/liblkl.a" -lpthread -lrt
run smoke-run "$work/smoke"
stack=$(readelf -lW "$work/smoke" | grep GNU_STACK || true)
case $stack in *RWE*) die "programs linking liblkl.a get an executable stack";; esac

echo "$hash" >"$stage/STAMP"
# Publish atomically: a rename within the cache directory.
mv -T "$stage" "$entry" 2>/dev/null || { entry_ok || die "could not publish $entry"; }
log "built in $(($(date +%s) - start)) s; cached as $entry"
install_out
log "installed into $out"
