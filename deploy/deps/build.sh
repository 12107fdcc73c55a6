#!/usr/bin/env bash
# deploy/deps/build.sh - builds the libraries listed in sources.lock from
# Debian's source packages into a cache folder, once.
#
#   deploy/deps/build.sh            # build what is missing, print nothing else
#   deploy/deps/build.sh --prefix   # print the prefix CMake should search
#
# Each library goes to $SF_CACHE_DIR/deps/<name>-<debian-version>/ (default
# ~/.cache/streamfold), with lib/pkgconfig/*.pc.  A folder whose stamp matches
# the pinned checksums is reused as it is; a mismatching download is refused.
# The libraries share one prefix, $SF_CACHE_DIR/deps/prefix, so a single
# PKG_CONFIG_PATH entry finds both (CMakeLists.txt adds it by itself).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LOCK=$HERE/sources.lock
CACHE=${SF_CACHE_DIR:-$HOME/.cache/streamfold}/deps
PREFIX=$CACHE/prefix
POOL=${SF_DEBIAN_POOL:-http://deb.debian.org/debian/pool/main}
JOBS=${SF_JOBS:-$(nproc)}

if [ "${1:-}" = --prefix ]; then echo "$PREFIX"; exit 0; fi

fetch() { # url sha256 dest
  local url=$1 sum=$2 dest=$3
  if [ ! -f "$dest" ] || ! echo "$sum  $dest" | sha256sum -c --status; then
    curl -fsSL --retry 3 -o "$dest.part" "$url" \
      || { echo "deps: cannot download $url" >&2; return 1; }
    if ! echo "$sum  $dest.part" | sha256sum -c --status; then
      echo "deps: $url: sha256 $(sha256sum "$dest.part" | cut -d' ' -f1), pinned $sum (deploy/deps/sources.lock)" >&2
      rm -f "$dest.part"; return 1
    fi
    mv "$dest.part" "$dest"
  fi
}

build_librdkafka() { # srcdir
  (cd "$1" && ./configure --prefix="$PREFIX" --libdir="$PREFIX/lib" \
       --enable-ssl --enable-gssapi --enable-zstd --enable-zlib \
       --disable-curl --disable-lz4-ext \
       --enable-c11threads >build.log 2>&1 \
     && make -C src -j"$JOBS" >>build.log 2>&1 \
     && make -C src install >>build.log 2>&1) \
    || { echo "deps: librdkafka build failed, see $1/build.log" >&2; tail -20 "$1/build.log" >&2; return 1; }
}

build_hiredis() { # srcdir
  (cd "$1" && make -j"$JOBS" USE_SSL=1 PREFIX="$PREFIX" LIBRARY_PATH=lib >build.log 2>&1 \
     && make USE_SSL=1 PREFIX="$PREFIX" LIBRARY_PATH=lib install >>build.log 2>&1) \
    || { echo "deps: hiredis build failed, see $1/build.log" >&2; tail -20 "$1/build.log" >&2; return 1; }
}

mkdir -p "$CACHE/src" "$PREFIX"
grep -v '^\s*#' "$LOCK" | while read -r name ver dir dsc_sum orig_sum deb_sum; do
  [ -n "$name" ] || continue
  stamp=$PREFIX/.stamp-$name
  want="$name $ver $dsc_sum $orig_sum $deb_sum"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then continue; fi
  upver=${ver%-*}
  echo "deps: building $name $ver from Debian's source package" >&2
  t0=$(date +%s)
  dl=$CACHE/src
  fetch "$POOL/$dir/${name}_$ver.dsc" "$dsc_sum" "$dl/${name}_$ver.dsc"
  orig=$(ls "$dl" 2>/dev/null | grep -E "^${name}_${upver}\.orig\.tar\.(gz|xz|bz2)$" | head -1 || true)
  [ -n "$orig" ] || orig=$(grep -oE "${name}_${upver}\.orig\.tar\.(gz|xz|bz2)" "$dl/${name}_$ver.dsc" | head -1)
  fetch "$POOL/$dir/$orig" "$orig_sum" "$dl/$orig"
  debtar=$(grep -oE "${name}_${ver}\.debian\.tar\.(gz|xz|bz2)" "$dl/${name}_$ver.dsc" | head -1)
  fetch "$POOL/$dir/$debtar" "$deb_sum" "$dl/$debtar"
  work=$CACHE/src/$name-$ver
  rm -rf "$work"
  # dpkg-source unpacks the upstream tarball and applies Debian's patches;
  # signatures are not checked (no keyring here), the pinned checksums are.
  # librdkafka's Debian patches only switch cJSON and nanopb to Debian's
  # packages (not in Debian 12), so its vendored copies are used instead.
  skip=()
  [ "$name" = librdkafka ] && skip=(--skip-patches)
  dpkg-source --no-check "${skip[@]}" -x "$dl/${name}_$ver.dsc" "$work" >/dev/null
  "build_$name" "$work"
  rm -rf "$work"
  echo "$want" > "$stamp"
  echo "deps: $name $ver built in $(( $(date +%s) - t0 )) s into $PREFIX" >&2
done
