#!/usr/bin/env bash
# The C sources follow the house style of .clang-format: every file git
# tracks (or, outside a git checkout, every .c/.h below the source folders)
# is checked with `clang-format --dry-run -Werror`.  The files that differ
# are listed with how many lines would change; fix them with
#   clang-format -i FILE...
#
#   test_format.sh SOURCE_DIR
set -uo pipefail
src=${1:?usage: test_format.sh SOURCE_DIR}
cf=${CLANG_FORMAT:-$(command -v clang-format || command -v clang-format-14)}
[ -n "$cf" ] || { echo "SKIP: clang-format not installed (deploy/install-deps.sh adds it)"; exit 77; }
cd "$src" || exit 1
[ -f .clang-format ] || { echo "FAIL: no .clang-format in $src"; exit 1; }
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files -- '*.c' '*.h')
else
  mapfile -t files < <(find core schemas producer projector tests -name '*.[ch]' | sort)
fi
[ ${#files[@]} -gt 0 ] || { echo "FAIL: no C sources found in $src"; exit 1; }
bad=0
for f in "${files[@]}"; do
  [ -f "$f" ] || continue
  if ! "$cf" --dry-run -Werror "$f" >/dev/null 2>&1; then
    n=$("$cf" "$f" | diff "$f" - | grep -c '^>')
    echo "differs: $f ($n lines)"
    bad=$((bad + 1))
  fi
done
echo "$(( ${#files[@]} - bad )) of ${#files[@]} files formatted ($("$cf" --version | head -1))"
[ $bad = 0 ]
