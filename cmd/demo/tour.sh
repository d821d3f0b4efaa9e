#!/usr/bin/env bash
# The tour behind "make demo": each step runs the demo binary and shows what
# one layer does. BIN is the directory holding demo (make demo sets it).
set -euo pipefail
demo="${BIN:-.build/bin}/demo"

bold='' plain=''
if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; fi

step() {
	printf '\n%s== %s%s\n$ %s\n' "$bold" "$1" "$plain" "${*:2}"
	"${@:2}"
}

step "Kernels this binary can run, and which GOKERNEL selects" "$demo" kernels
step "jskernel's libsys example: one raw write(2) on the host kernel" "$demo" hello
step "The same call, traced: every call goes through sys.Syscall" "$demo" trace -- hello
step "Asking for a kernel this binary lacks fails at once, with what to do" \
	bash -c "GOKERNEL=lkl '$demo' hello || echo \"(exit status \$?, as expected)\""
