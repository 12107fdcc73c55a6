#!/usr/bin/env bash
# The shipped systemd files, as installed: `systemd-analyze verify` has
# nothing to say about the unit, `systemd-analyze security` rates it at most
# 3.0, and the sysusers.d file creates the service user.
#
#   test_systemd.sh BUILD_DIR
set -uo pipefail
build=${1:?usage: test_systemd.sh BUILD_DIR}
command -v systemd-analyze >/dev/null \
  || { echo "SKIP: systemd-analyze not installed (package systemd)"; exit 77; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cmake --install "$build" --prefix "$dir/p" >/dev/null || { echo "FAIL: install"; exit 1; }
sd=$dir/p/share/streamfold/systemd
pass=0 fail=0
ok()  { echo "ok: $*"; pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }

unit=$sd/sf-projector@.service
[ -f "$unit" ] || { echo "FAIL: $unit not installed"; exit 1; }
# verify also checks that ExecStart= is executable: point it at the binary
# of this install instead of the documented /usr/local.
mkdir -p "$dir/units"
sed "s|/usr/local/bin/sf-projector|$dir/p/bin/sf-projector|" "$unit" \
  >"$dir/units/sf-projector@.service"
cp "$dir/units/sf-projector@.service" "$dir/units/sf-projector@test.service"
out=$(systemd-analyze verify --man=no "$dir/units/sf-projector@.service" 2>&1)
if [ $? = 0 ] && [ -z "$out" ]; then ok "systemd-analyze verify: no findings"
else bad "systemd-analyze verify: $out"; fi

out=$(systemd-analyze security --offline=true "$dir/units/sf-projector@test.service" 2>&1)
score=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
if [ -z "$score" ]; then bad "systemd-analyze security gave no score: $out"
elif awk -v s="$score" 'BEGIN { exit !(s <= 3.0) }'; then ok "systemd-analyze security: exposure $score <= 3.0"
else bad "systemd-analyze security: exposure $score > 3.0:
$(printf '%s\n' "$out" | grep '✗')"; fi

# The unit's user exists once the sysusers.d file is applied (to a scratch
# root, so the machine's /etc is untouched).
conf=$sd/streamfold.sysusers.conf
user=$(sed -n 's/^User=//p' "$unit")
if [ ! -f "$conf" ]; then bad "$conf not installed"
elif ! command -v systemd-sysusers >/dev/null; then echo "note: no systemd-sysusers, sysusers.d file not applied"
else
  mkdir -p "$dir/root/etc"
  systemd-sysusers --root="$dir/root" "$conf" >/dev/null 2>&1
  if grep -q "^$user:x:[0-9]*:[0-9]*:.*:/usr/sbin/nologin$" "$dir/root/etc/passwd" 2>/dev/null \
     && grep -q "^$user:x:" "$dir/root/etc/group"; then
    ok "sysusers.d creates user and group $user (no login shell)"
  else bad "sysusers.d file does not create the unit's User=$user"; fi
fi
echo "$pass passed, $fail failed"
[ $fail = 0 ]
