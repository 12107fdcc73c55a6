#!/usr/bin/env bash
# core_install_examples.sh - Streamfold installed into a fresh temporary
# prefix (not the configured one) is usable the way docs/install.md says:
# the examples and READMEs are there, the example service, handler shared
# object (with -Wl,--no-undefined) and custom worker build against it with
# pkg-config alone, and they run: the service publishes carts, the
# installed sf-projector loads the handler, the custom worker projects too,
# and the views appear in Redis.  No LD_LIBRARY_PATH anywhere.
TEST=core_install_examples
. "$(dirname "$0")/core_lib.sh"
need
command -v pkg-config >/dev/null || { log "SKIP: pkg-config missing"; exit $SKIP; }

P=$WORK/prefix
cmake --install "$SF_BUILD_DIR" --prefix "$P" >"$WORK/install.log" 2>&1 || fail "cmake --install failed"
unset LD_LIBRARY_PATH
# From here on only the installed tree: binaries, schemas, examples.
PROJ=$P/bin/sf-projector PUB=$P/bin/sf-publish
SCHEMAS=$P/share/streamfold/schemas
EX=$P/share/streamfold/examples
DOC=$P/share/doc/streamfold
for f in "$EX/producer/cart_service.c" "$EX/projector/handlers/fight_handler.c" \
         "$EX/projector/handlers/custom_worker.c" "$EX/projector/fight-results.rules.yaml" \
         "$DOC/README.md" "$DOC/schemas/README.md" "$DOC/producer/README.md" \
         "$DOC/projector/README.md"; do
  [ -f "$f" ] || fail "not installed: ${f#"$P"/}"
done
"$PROJ" --help >/dev/null 2>&1 || fail "installed sf-projector does not run (rc $?)"

deps=${SF_DEPS_PREFIX:-${SF_CACHE_DIR:-$HOME/.cache/streamfold}/deps/prefix}
export PKG_CONFIG_PATH="$P/lib/pkgconfig:$deps/lib/pkgconfig"
B=$WORK/examples; mkdir -p "$B"
# The compile lines of docs/install.md.
cc -std=c11 -Wall -Wextra -Werror -shared -fPIC -Wl,--no-undefined \
  "$EX/projector/handlers/fight_handler.c" -o "$B/libfight.so" \
  $(pkg-config --cflags --libs streamfold-projector) 2>"$WORK/cc-handler.log" \
  || fail "handler build: $(cat "$WORK/cc-handler.log")"
svc="streamfold-producer jansson"
cc -std=c11 -Wall -Wextra -Werror "$EX/producer/cart_service.c" -o "$B/cart_service" \
  $(pkg-config --cflags --libs $svc) \
  $(pkg-config --libs-only-L $svc | sed 's/-L/-Wl,-rpath,/g') 2>"$WORK/cc-service.log" \
  || fail "service build: $(cat "$WORK/cc-service.log")"
wk="streamfold-projector"
cc -std=c11 -Wall -Wextra -Werror "$EX/projector/handlers/custom_worker.c" -o "$B/fight-worker" \
  $(pkg-config --cflags --libs $wk) \
  $(pkg-config --libs-only-L $wk | sed 's/-L/-Wl,-rpath,/g') 2>"$WORK/cc-worker.log" \
  || fail "custom worker build: $(cat "$WORK/cc-worker.log")"
log "built handler, service and custom worker against $P"

TC=$(new_topic cart 3); TF=$(new_topic fight 1)
PC="carts-$ID" PF="fights-$ID" PW="fightw-$ID"
NAMES+=("$PC" "$PF" "$PW")
config "$WORK/c.yaml" <<YAML
  - {name: "$PC", topics: ["$TC"], rules: "$EX/projector/cart-contents.rules.yaml"}
  - {name: "$PF", topics: ["$TF"], rules: "$EX/projector/fight-results.rules.yaml", handler: "$B/libfight.so"}
  - {name: "$PW", topics: ["$TF"], rules: {keys: ["fight-audit:*"], on: {}}}
YAML

# The service: one command per line, each published in one transaction.
"$B/cart_service" -b "$SF_BROKERS" -s "$SCHEMAS" -t "$TC" >"$WORK/service.log" 2>&1 <<CMDS \
  || fail "cart_service failed: $(cat "$WORK/service.log")"
open $ID-c1 alice $ID-s1 2 499
add $ID-c1 $ID-s2 1 1999
checkout $ID-c1
CMDS
fighter() { echo "{\"fighter_id\":\"$ID-$1\",\"name\":\"$2\"}"; }
echo "{\"type\":\"sports.fight.FightResultRecorded\",\"aggregate_id\":\"$ID-f1\",\"data\":{\"fight_id\":\"$ID-f1\",\"fighters\":[$(fighter a Ali),$(fighter b Frazier),$(fighter c Norton)],\"winner_id\":null,\"method\":\"DRAW\",\"rounds\":3,\"duration_seconds\":500,\"venue\":\"$ID-Arena\",\"fight_date\":1000,\"recorded_at\":1}}" \
  | publish "$TF"

start w "$WORK/c.yaml" "$PC" "$PF"
SF_FIGHT_PROJECTION=$PW "$B/fight-worker" run -c "$WORK/c.yaml" "$PW" >>"$WORK/cw.log" 2>&1 &
PIDS[$!]=1; PID_cw=$!
for p in "$PC" "$PF" "$PW"; do wait_lag0 "$WORK/c.yaml" "$p" 90; done

expect_eq "cart from the example service" "$(rcli hget "cart:$ID-c1" status)" checked_out
expect_eq "cart items" "$(rcli hget "cart:$ID-c1:items" "$ID-s1"),$(rcli hget "cart:$ID-c1:items" "$ID-s2")" "2,1"
# The handler covers every fighter, the third one included (the rules
# reach only fighters[0] and [1]).
expect_eq "handler: third fighter" "$(rcli hget "fighter:$ID-c" name)" Norton
expect_eq "custom worker" "$(rcli hget "fight-audit:$ID-f1" recorded_by | grep -c .)" 1
stop w TERM; expect_eq "installed sf-projector exit on SIGTERM" "$RC" 0
stop cw TERM; expect_eq "custom worker exit on SIGTERM" "$RC" 0
log "PASS"
