#!/usr/bin/env bash
# `cmake --install` into a scratch prefix gives binaries, headers, libraries
# and relocatable pkg-config files a C program can build and run against.
set -euo pipefail
build=${1:?usage: test_install.sh BUILD_DIR}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cmake --install "$build" --prefix "$dir/prefix" >/dev/null
for f in bin/sf-schema bin/sf-publish bin/sf-projector \
         include/streamfold/sf_core.h include/streamfold/sf_schema.h \
         include/streamfold/sf_producer.h include/streamfold/sf_projector.h; do
  [ -e "$dir/prefix/$f" ] || { echo "FAIL: $f not installed" >&2; exit 1; }
done
libdir=$(dirname "$(find "$dir/prefix" -name streamfold-projector.pc)")
cat >"$dir/app.c" <<'C'
#include <stdio.h>
#include <sf_producer.h>
#include <sf_projector.h>
int main(void)
{
    sf_catalog_t *cat = sf_catalog_new();
    int ok = cat != NULL && sf_crc64_avro("", 0) == 0xc15d213aa4d7a795ULL;
    sf_catalog_destroy(cat);
    printf("%s\n", sf_err_name(SF_ERR_FENCED));
    return ok ? 0 : 1;
}
C
export PKG_CONFIG_PATH="$libdir"
# shellcheck disable=SC2046
cc -std=c11 -Wall -Werror "$dir/app.c" -o "$dir/app" \
  $(pkg-config --cflags --libs streamfold-producer streamfold-projector)
out=$(LD_LIBRARY_PATH="$libdir/.." "$dir/app")
[ "$out" = SF_ERR_FENCED ] || { echo "FAIL: app printed '$out'" >&2; exit 1; }
echo "1 passed, 0 failed"
