#!/usr/bin/env bash
# history.sh - a realistic, deterministic event history for the quickstart,
# as sf-publish JSON lines on stdout.
#
#   history.sh cart  [CARTS]    shoppers open carts, add and remove items
#                               (some written with ItemAddedToCart v1, some
#                               v2 in USD), most check out
#   history.sh route [ROUTES]   routes, their locations (with addresses) and
#                               the vending machines installed and removed
#   history.sh fight [FIGHTS]   recorded fight results at a few venues
set -euo pipefail
kind=${1:?usage: history.sh cart|route|fight [N]}
n=${2:-}
awk -v kind="$kind" -v n="$n" '
function ts(ms) { return sprintf("%.0f", ms) }
function iso(ms,   s) { s = int(ms / 1000); return strftime("%Y-%m-%dT%H:%M:%S", s, 1) sprintf(".%03dZ", ms % 1000) }
function ev(type, agg, ver, at, data, extra) {
  printf "{\"type\":\"%s\",\"aggregate_id\":\"%s\",\"version\":%d,\"occurred_at\":\"%s\"%s,\"data\":{%s}}\n", type, agg, ver, iso(at), extra, data
}
BEGIN {
  srand(42)
  t = 1793526000000            # 2026-11-01T09:00:00Z
  if (kind == "cart") {
    carts = n ? n : 40
    split("KEYBOARD-01 MOUSE-02 MONITOR-27 CABLE-USB-C LAPTOP-STAND HEADSET-7 WEBCAM-4K DOCK-TB4", skus, " ")
    split("4999 2499 32900 999 3999 8900 12900 24900", price, " ")
    for (c = 1; c <= carts; c++) {
      id = sprintf("cart-%03d", c); v = 0; t += 60000 + int(rand() * 600000)
      ev("shop.cart.CartOpened", id, ++v, t, sprintf("\"cart_id\":\"%s\",\"customer_id\":\"customer-%02d\",\"opened_at\":%s", id, 1 + int(rand() * 25), ts(t)), "")
      items = 1 + int(rand() * 4); delete qty
      for (i = 1; i <= items; i++) {
        s = 1 + int(rand() * 8); q = 1 + int(rand() * 3); t += 5000 + int(rand() * 90000)
        qty[s] += q
        if (rand() < 0.3)   # an older service still writes v1
          ev("shop.cart.ItemAddedToCart", id, ++v, t, sprintf("\"cart_id\":\"%s\",\"sku\":\"%s\",\"quantity\":%d,\"unit_price_cents\":%d,\"added_at\":%s", id, skus[s], q, price[s], ts(t)), ",\"schema_version\":1")
        else
          ev("shop.cart.ItemAddedToCart", id, ++v, t, sprintf("\"cart_id\":\"%s\",\"sku\":\"%s\",\"quantity\":%d,\"unit_price_cents\":%d,\"added_at\":%s,\"currency\":\"%s\"", id, skus[s], q, price[s], ts(t), rand() < 0.2 ? "USD" : "EUR"), "")
      }
      for (s in qty) if (rand() < 0.25) {
        t += 5000 + int(rand() * 60000)
        ev("shop.cart.ItemRemovedFromCart", id, ++v, t, sprintf("\"cart_id\":\"%s\",\"sku\":\"%s\",\"quantity\":1,\"removed_at\":%s", id, skus[s], ts(t)), "")
      }
      if (rand() < 0.7) {
        t += 30000 + int(rand() * 300000)
        ev("shop.cart.CartCheckedOut", id, ++v, t, sprintf("\"cart_id\":\"%s\",\"checked_out_at\":%s", id, ts(t)), "")
      }
    }
  } else if (kind == "route") {
    routes = n ? n : 3
    split("Station Hospital University Airport Library Gym Mall Office-Park", places, " ")
    split("Berlin Hamburg Munich Cologne", cities, " ")
    split("VM-2000 SnackMaster-5 CoolDrink-X", models, " ")
    m = 0
    for (r = 1; r <= routes; r++) {
      id = sprintf("route-%d", r); v = 0; t += 3600000
      ev("ops.route.RouteCreated", id, ++v, t, sprintf("\"route_id\":\"%s\",\"name\":\"%s route %d\",\"created_at\":%s", id, cities[1 + (r - 1) % 4], r, ts(t)), "")
      locs = 2 + int(rand() * 3)
      for (l = 1; l <= locs; l++) {
        lid = sprintf("%s-loc-%d", id, l); t += 600000
        city = cities[1 + (r - 1) % 4]
        ev("ops.route.LocationAddedToRoute", id, ++v, t, sprintf("\"route_id\":\"%s\",\"location_id\":\"%s\",\"name\":\"%s %s\",\"address\":{\"street\":\"%d Main Street\",\"city\":\"%s\",\"postal_code\":\"%05d\"},\"added_at\":%s", id, lid, city, places[1 + int(rand() * 8)], 1 + int(rand() * 200), city, 10000 + int(rand() * 89999), ts(t)), "")
        machines = 1 + int(rand() * 3)
        for (k = 1; k <= machines; k++) {
          mid = sprintf("vm-%04d", ++m); t += 300000
          ev("ops.route.VendingMachineInstalled", id, ++v, t, sprintf("\"route_id\":\"%s\",\"location_id\":\"%s\",\"machine_id\":\"%s\",\"model\":\"%s\",\"installed_at\":%s", id, lid, mid, models[1 + int(rand() * 3)], ts(t)), "")
          if (rand() < 0.2) {
            t += 86400000
            ev("ops.route.VendingMachineRemoved", id, ++v, t, sprintf("\"route_id\":\"%s\",\"location_id\":\"%s\",\"machine_id\":\"%s\",\"reason\":{\"string\":\"replaced\"},\"removed_at\":%s", id, lid, mid, ts(t)), "")
          }
        }
      }
    }
  } else if (kind == "fight") {
    fights = n ? n : 12
    split("Alvarez Brandt Chen Dubois Eriksen Fofana Garcia Horvat", names, " ")
    split("KO TKO SUBMISSION DECISION DRAW", methods, " ")
    split("Madison-Square-Garden O2-Arena Saitama-Super-Arena", venues, " ")
    for (f = 1; f <= fights; f++) {
      id = sprintf("fight-%03d", f); t += 7 * 86400000
      a = 1 + int(rand() * 8); b = 1 + (a % 8)
      meth = methods[1 + int(rand() * 5)]
      winner = meth == "DRAW" ? "null" : sprintf("{\"string\":\"fighter-%d\"}", rand() < 0.5 ? a : b)
      rounds = meth == "DECISION" || meth == "DRAW" ? 3 : 1 + int(rand() * 3)
      ev("sports.fight.FightResultRecorded", id, 1, t, sprintf("\"fight_id\":\"%s\",\"fighters\":[{\"fighter_id\":\"fighter-%d\",\"name\":\"%s\"},{\"fighter_id\":\"fighter-%d\",\"name\":\"%s\"}],\"winner_id\":%s,\"method\":\"%s\",\"rounds\":%d,\"duration_seconds\":%d,\"venue\":\"%s\",\"fight_date\":%s,\"recorded_at\":%s", id, a, names[a], b, names[b], winner, meth, rounds, (rounds - 1) * 300 + 30 + int(rand() * 270), venues[1 + int(rand() * 3)], ts(t - 3600000), ts(t)), "")
    }
  } else {
    print "history.sh: unknown kind " kind > "/dev/stderr"; exit 2
  }
}'
