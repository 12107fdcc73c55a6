#!/usr/bin/env bash
# The installed binaries and libraries carry the hardening of
# cmake/Hardening.cmake: checked with readelf/objdump on a `cmake --install`
# into a scratch prefix, so what ships is what is checked.
#
#   test_hardening.sh BUILD_DIR FORTIFY_LEVEL
#
# FORTIFY_LEVEL is what CMake chose (0 in builds without optimisation).
set -uo pipefail
build=${1:?usage: test_hardening.sh BUILD_DIR FORTIFY_LEVEL}
fortify=${2:?usage: test_hardening.sh BUILD_DIR FORTIFY_LEVEL}
for t in readelf objdump; do
  command -v $t >/dev/null || { echo "SKIP: $t not installed (binutils)"; exit 77; }
done
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cmake --install "$build" --prefix "$dir/p" >/dev/null || { echo "FAIL: install"; exit 1; }

pass=0 fail=0
check() { # check FILE WHAT COMMAND...
  local f=$1 what=$2; shift 2
  if "$@"; then pass=$((pass + 1)); else
    echo "FAIL: ${f#"$dir"/p/}: $what"; fail=$((fail + 1)); fi
}
has() { grep -q -- "$1" "$2"; }

# The x86 CET notes (IBT, SHSTK) of a linked file are the AND over every
# object in the link, including the C library's start files; Debian 12's
# glibc ships Scrt1.o/crti.o without them, so there the notes cannot appear
# in any executable or library, whatever we compile with.  Our own code is
# still instrumented: every function starts with endbr64, which is checked
# instead.
cet_notes=0
if readelf -n "$(cc -print-file-name=Scrt1.o)" 2>/dev/null | grep -q 'IBT' \
   && readelf -n "$(cc -print-file-name=crti.o)" 2>/dev/null | grep -q 'IBT'; then
  cet_notes=1
fi
x86=0
[ "$(uname -m)" = x86_64 ] && x86=1

files=$(find "$dir/p/bin" -type f; find "$dir/p/lib" -name 'lib*.so.*' -type f)
[ -n "$files" ] || { echo "FAIL: nothing installed"; exit 1; }
for f in $files; do
  name=$(basename "$f")
  readelf -hW "$f" >"$dir/h"; readelf -dW "$f" >"$dir/d"; readelf -lW "$f" >"$dir/l"
  readelf --dyn-syms -W "$f" >"$dir/s"; readelf -nW "$f" >"$dir/n"
  check "$f" "ELF type DYN (PIE or shared object)" has 'Type: *DYN' "$dir/h"
  case $f in */bin/*) check "$f" "PIE flag" has 'FLAGS_1.*PIE' "$dir/d" ;; esac
  check "$f" "BIND_NOW (-z now)" grep -qE 'BIND_NOW|FLAGS.*NOW' "$dir/d"
  check "$f" "GNU_RELRO segment (-z relro)" has 'GNU_RELRO' "$dir/l"
  check "$f" "no executable stack" grep -qE 'GNU_STACK .* RW ' "$dir/l"
  # Files with their own code that keeps arrays on the stack; sf-projector
  # is a three-line main() over libsfprojector and needs neither.
  case $name in
    sf-projector) ;;
    *)
      check "$f" "__stack_chk_fail (-fstack-protector-strong)" has ' __stack_chk_fail' "$dir/s"
      if [ "$fortify" -gt 0 ]; then
        check "$f" "__*_chk symbols (-D_FORTIFY_SOURCE=$fortify)" \
          grep -qE ' __[a-z_]+_chk(@| |$)' "$dir/s"
      fi ;;
  esac
  if [ $x86 = 1 ]; then
    if [ $cet_notes = 1 ]; then
      check "$f" "x86 feature IBT, SHSTK note (-fcf-protection)" has 'IBT, SHSTK' "$dir/n"
    fi
    check "$f" "endbr64 landing pads (-fcf-protection)" \
      sh -c "objdump -d --no-show-raw-insn '$f' | grep -q endbr64"
  fi
done
[ $x86 = 1 ] && [ $cet_notes = 0 ] && \
  echo "note: $(cc -print-file-name=Scrt1.o) has no CET note, so linked files cannot either; checked endbr64 instead"
echo "$pass passed, $fail failed"
[ $fail = 0 ]
