#!/usr/bin/env bash
# Each installed library exports exactly the functions its public header(s)
# declare: nothing internal leaks (the libraries are built with
# -fvisibility=hidden, see cmake/Streamfold.cmake), and nothing declared is
# missing.  Checked on a `cmake --install` into a scratch prefix.
#
#   test_exports.sh BUILD_DIR SOURCE_DIR
#
# A library's public headers are those of its module folder
# (<module>/include/*.h), as installed; a new header needs the same
# `#pragma GCC visibility push(default)` as the others, or its functions
# show up here as declared but not exported.
set -uo pipefail
build=${1:?usage: test_exports.sh BUILD_DIR SOURCE_DIR}
src=${2:?usage: test_exports.sh BUILD_DIR SOURCE_DIR}
for t in nm python3 cc; do
  command -v $t >/dev/null || { echo "SKIP: $t not installed"; exit 77; }
done
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cmake --install "$build" --prefix "$dir/p" >/dev/null || { echo "FAIL: install"; exit 1; }
inc=$dir/p/include/streamfold
lib=$(dirname "$(find "$dir/p" -name 'libsfcore.so' | head -1)")
[ -d "$inc" ] && [ -n "$lib" ] || { echo "FAIL: headers or libraries not installed"; exit 1; }

# Functions a program defines for the library to call (a handler shared
# object's init), declared in a header but exported by no library.
user_defined="sf_projection_init"

# The functions one header declares itself (not those of headers it
# includes): preprocess it, keep the lines the line markers attribute to
# that file, and take every `sf_name(` that is not a function-pointer
# typedef `(*sf_name)(`.
declared() {
  python3 - "$1" "$inc" "$user_defined" <<'PY'
import re, subprocess, sys
hdr, inc, user = sys.argv[1], sys.argv[2], set(sys.argv[3].split())
pp = subprocess.run(["cc", "-E", "-std=c11", "-I" + inc]
                    + [f for f in subprocess.run(["pkg-config", "--cflags-only-I", "avro-c"],
                                                 capture_output=True, text=True).stdout.split()]
                    + [hdr], capture_output=True, text=True)
if pp.returncode:
    sys.exit("cannot preprocess %s: %s" % (hdr, pp.stderr.strip()))
own, keep = False, []
for line in pp.stdout.splitlines():
    m = re.match(r'# \d+ "([^"]+)"', line)
    if m:
        own = m.group(1) == hdr
    elif own:
        keep.append(line)
text = "\n".join(keep)
names = {n for n in re.findall(r'(?<![\w])(?<!\(\*)(sf_\w+)\s*\(', text)
         if not n.endswith("_t") and n not in user}
print("\n".join(sorted(names)))
PY
}

pass=0 fail=0
while read -r libname headers; do
  so=$lib/lib$libname.so
  if [ ! -e "$so" ]; then echo "FAIL: $so not installed"; fail=$((fail + 1)); continue; fi
  : >"$dir/decl"
  for h in $headers; do
    declared "$inc/$h" >>"$dir/decl" || { echo "FAIL: $h: cannot read declarations"; fail=$((fail + 1)); }
  done
  sort -u -o "$dir/decl" "$dir/decl"
  nm -D --defined-only "$so" | awk '{print $NF}' | sed 's/@.*//' | sort -u >"$dir/exp"
  extra=$(comm -13 "$dir/decl" "$dir/exp" | tr '\n' ' ')
  missing=$(comm -23 "$dir/decl" "$dir/exp" | tr '\n' ' ')
  n=$(wc -l <"$dir/exp")
  if [ -n "$extra" ]; then
    echo "FAIL: lib$libname.so exports what $headers does not declare: $extra"; fail=$((fail + 1))
  elif [ -n "$missing" ]; then
    echo "FAIL: lib$libname.so does not export what $headers declares: $missing"; fail=$((fail + 1))
  elif [ "$n" -eq 0 ]; then
    echo "FAIL: lib$libname.so exports nothing"; fail=$((fail + 1))
  else
    echo "ok: lib$libname.so exports the $n functions of $headers"; pass=$((pass + 1))
  fi
done < <(for m in core:sfcore schemas:sfschema producer:sfproducer projector:sfprojector; do
           [ -d "$src/${m%%:*}/include" ] || continue
           echo "${m#*:} $(cd "$src/${m%%:*}/include" && ls ./*.h | sed 's|^\./||' | tr '\n' ' ')"
         done)
echo "$pass passed, $fail failed"
[ $fail = 0 ]
