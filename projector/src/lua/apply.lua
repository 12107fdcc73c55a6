-- apply.lua - the projector's apply script: one call applies one batch of
-- one partition (its events' Redis commands) together with the partition's
-- checkpoint, atomically.  Embedded into sf-projector at build time
-- (projector/cmake/embed.cmake) and prefixed when loaded with the command
-- table generated from cmdspec.c, which defines MAXARGS and SPEC_ROW(name)
-- (the row of one command, or nil).
--
-- KEYS[1]  sf:<p>:epoch:<topic>:<partition>  fencing epoch
-- KEYS[2]  sf:<p>:ckpt:<topic>:<partition>   last offset applied whole
-- KEYS[3]  sf:<p>:halt:<topic>:<partition>   progress of a failed event:
--                                            "<offset> <commands applied>
--                                            <commands of the event>"
-- KEYS[4]  sf:<p>:dedup:<topic>:<partition>  what the duplicate rule met
--                                            (hash of counts, see below)
-- ARGV[1]  the caller's fencing token
-- ARGV[2]  the checkpoint the caller expects (-1: none)
-- ARGV[3]  the batch's last offset
-- ARGV[4]  'stop': stop at a failed event (the live worker, which must
--          dead-letter it before the checkpoint passes it); 'skip': report
--          it and go on (the rebuild, which only counts it); 'fold': as
--          'skip', for a folded batch (block "Folded batches" below)
-- ARGV[5]  the duplicate rule's version entries (block "Duplicate
--          rule" below), then per event: offset, number of commands, then
--          per command: number of arguments, the arguments (name first)
--
-- Every reply is an array whose first element says what happened (the
-- C side, redis_sink.c, turns it into sf_apply_status_t):
--   {0, applied, nskipped, then per skipped event: offset, done, ncmds,
--    index, error, then VERSIONS}   done, checkpoint = last offset ('skip'
--                                   mode: failed events reported, passed)
--   {1, epoch}                      FENCED: a newer owner bumped the epoch
--   {2, epoch}                      EPOCH_LOST: the epoch is older than the
--                                   token, i.e. Redis lost writes
--   {3, checkpoint}                 CKPT_MISMATCH: nothing applied
--   {4, offset, done, ncmds, index, error, checkpoint, recorded, applied,
--    VERSIONS}
--                                   EVENT_FAILED: command <index> of the
--                                   event at <offset> failed; <done> of its
--                                   <ncmds> commands are applied (and stay
--                                   so); events before it are applied
--   {5, error}                      NOT_RUN: the first write was refused
--                                   (OOM, READONLY, NOPERM): nothing applied
-- VERSIONS: duplicates, conflicts, gaps, unversioned (counts of the
-- events this call passed), the last duplicate and the last gap
-- ("offset=<o> version=<v> last=<l> key=<k>", "" when none).
--
-- Invariants this script keeps (docs/exactly-once.md):
--  * It writes only when the epoch equals the token AND the checkpoint equals
--    the expected one (compare-and-set), so a batch lands only on the state
--    its sender last saw: a Redis that lost writes is noticed, not papered
--    over.
--  * No Lua error can happen after the first write: every Redis call is a
--    redis.pcall, every command's arity and argument count are checked
--    before the event's first write, and the first write of the script is
--    the checkpoint's own SET (Redis refuses an OOM only on a script's first
--    write, so later writes cannot meet it).
--  * A command never runs twice: when a command fails, the script records
--    how many of the event's commands were applied (KEYS[3]) in the same
--    atomic step; a later call for that event starts after them.
--  * What can be foreseen is checked before the event's first write (key
--    types, numbers for INCRBY/HINCRBY...), so most failing events are
--    refused whole ("done" = 0).

local token, expected, last = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local mode = ARGV[4]
local FOLD = mode == 'fold'

-- ==== Duplicate rule (docs/duplicates.md) ==============================
-- ARGV[5]  V, how many events of the batch carry an aggregate version
--          (-1: the projection has `dedup: off`), then V entries of four
--          arguments in offset order: offset, version key
--          sf:<p>:ver:<topic>:<partition>:{<aggregate id>}, version
--          (decimal >= 1), id tag (a hash of ce_id, '' without one).  The events follow.
-- Per version key the last applied version is kept as "<version>" or
-- "<version>:<id tag>", written in this same atomic step as the event's
-- writes.  An event whose version is <= it is a duplicate: not applied,
-- passed by the checkpoint (a "conflict" too when the version is equal
-- but the id tag differs: two writers).  Otherwise the event is applied
-- and its version recorded; above last + 1 it is a gap (reported,
-- applied).  Events without an entry are applied per offset as always
-- ("unversioned").  An event that fails in Redis records no version: it
-- was not applied.
-- Cost per event: a few table lookups and one number conversion; per
-- batch one MGET (per 500 aggregates) before the first write and one MSET
-- (per 250) at the end.
local VN = tonumber(ARGV[5])
if not VN or VN < -1 or VN ~= math.floor(VN) then
  return {5, 'ERR malformed batch: version count'}
end
local EV0 = 6 + 4 * math.max(VN, 0) -- the first event's argument
local tonumber, floor, A = tonumber, math.floor, ARGV -- locals: faster
-- N[x] = tonumber(ARGV[x]) for every number of the batch's layout (the
-- version entries' offsets and versions, the events' offsets and counts,
-- the commands' argument counts), parsed once by the layout checks below
-- and read from here after them: tonumber is strtod, and calling it again
-- at every pass cost Redis about a third of its CPU per event in a
-- rebuild (docs/perf.md).
local N = {}
local vpos = 6            -- next version entry to match
local voff = nil          -- its offset
local vlast, vtag = {}, {} -- key -> last version (false: none), its tag
local vput, vputs = {}, {} -- keys this call records, in order
local vcnt = {0, 0, 0, 0}  -- duplicates, conflicts, gaps, unversioned
local vdup, vgap = '', ''

-- The entries' layout (before the first write): increasing offsets, a
-- key, a whole version >= 1.
local function ver_layout()
  local prev = -2
  if EV0 - 1 > #A then return 'ERR malformed batch: version entries' end
  for x = 6, EV0 - 1, 4 do
    local off, v = tonumber(A[x]), tonumber(A[x + 2])
    if not off or off <= prev or A[x + 1] == '' or
        not v or v < 1 or v ~= floor(v) then
      return 'ERR malformed batch: version entry at argument ' .. x
    end
    N[x], N[x + 2] = off, v
    prev = off
  end
  if EV0 > 6 then voff = N[6] end
end

-- Reads the last versions of the aggregates of the events above ck.
local function ver_load(ck)
  local keys = {}
  local x = 6
  -- entries at or below the checkpoint belong to events not applied again
  while x < EV0 and N[x] <= ck do x = x + 4 end
  for y = x + 1, EV0 - 1, 4 do
    local k = A[y]
    if vlast[k] == nil then
      vlast[k] = false
      keys[#keys + 1] = k
    end
  end
  for a = 1, #keys, 500 do
    local b = math.min(a + 499, #keys)
    local r = redis.pcall('MGET', unpack(keys, a, b))
    if r.err then return r.err end
    for j = a, b do
      local s = r[j - a + 1]
      if s then
        local v, t = string.match(s, '^(%d+):?(%x*)$')
        vlast[keys[j]], vtag[keys[j]] = tonumber(v) or false, t or ''
      end
    end
  end
end

local function ver_note(off, v, l, k)
  return string.format('offset=%d version=%d last=%d key=%s', off, v, l, k)
end

-- The verdict on the event at off (above the checkpoint): 'dup', or nil
-- (no version), or the index of its entry, to record once it is applied
-- (ver_done).
local function ver_check(off)
  if VN < 0 then return nil end
  while voff and voff < off do
    vpos = vpos + 4
    voff = vpos < EV0 and N[vpos] or nil
  end
  if voff ~= off then
    vcnt[4] = vcnt[4] + 1
    return nil
  end
  local k, v = A[vpos + 1], N[vpos + 2]
  local l = vlast[k] or 0
  if v <= l then
    vcnt[1] = vcnt[1] + 1
    local t = A[vpos + 3]
    if v == l and t ~= '' and (vtag[k] or '') ~= '' and t ~= vtag[k] then
      vcnt[2] = vcnt[2] + 1
    end
    vdup = ver_note(off, v, l, k)
    return 'dup'
  end
  if v > l + 1 then
    vcnt[3] = vcnt[3] + 1
    vgap = ver_note(off, v, l, k)
  end
  return vpos
end

local function ver_done(x)
  local k = A[x + 1]
  if not vputs[k] then
    vputs[k] = true
    vput[#vput + 1] = k
  end
  vlast[k], vtag[k] = N[x + 2], A[x + 3]
  vputs[k] = x
end

-- Writes the recorded versions and the counts (never a first write: the
-- checkpoint's SET came before); returns the reply's VERSIONS part.
local function ver_flush()
  for a = 1, #vput, 250 do
    local args = {}
    for j = a, math.min(a + 249, #vput) do
      local x = vputs[vput[j]]
      args[#args + 1] = vput[j]
      args[#args + 1] = A[x + 3] == '' and A[x + 2] or
        (A[x + 2] .. ':' .. A[x + 3])
    end
    redis.pcall('MSET', unpack(args))
  end
  local names = {'duplicates', 'conflicts', 'gaps', 'unversioned'}
  for j = 1, 4 do
    if vcnt[j] > 0 then redis.pcall('HINCRBY', KEYS[4], names[j], vcnt[j]) end
  end
  if vdup ~= '' then redis.pcall('HSET', KEYS[4], 'last_duplicate', vdup) end
  if vgap ~= '' then redis.pcall('HSET', KEYS[4], 'last_gap', vgap) end
  return {vcnt[1], vcnt[2], vcnt[3], vcnt[4], vdup, vgap}
end
-- ==== end of the duplicate rule =========================================

-- Fencing.  Epochs only grow (INCR); one below our token can only mean the
-- Redis we talk to lost the INCR that gave it to us.
local ep = redis.pcall('GET', KEYS[1])
if type(ep) == 'table' then return {5, ep.err} end
if ep ~= token then
  if (tonumber(ep or '0') or 0) < tonumber(token) then return {2, ep or '0'} end
  return {1, ep}
end

local ck = redis.pcall('GET', KEYS[2])
if type(ck) == 'table' then return {5, ck.err} end
ck = tonumber(ck or '-1')
if ck ~= expected then return {3, string.format('%d', ck)} end

-- Progress of an event that failed part way, if any.
local hoff, hdone, hcmds = nil, 0, nil
local h = redis.pcall('GET', KEYS[3])
if type(h) == 'string' then
  local o, d, c = string.match(h, '^(%-?%d+) ?(%d*) ?(%d*)$')
  if o then hoff = tonumber(o); hdone = tonumber(d) or 0; hcmds = tonumber(c) end
end

-- The batch's layout, checked before the first write: offsets increase and
-- end at ARGV[3], every count is a number within bounds.  A malformed batch
-- is refused whole; without this a bad count would raise a Lua error half
-- way through the writes.
local n = #ARGV
do
  local verr = ver_layout()
  if verr then return {5, verr} end
  local x, prev = EV0, nil
  while x <= n do
    local off, nc = tonumber(ARGV[x]), tonumber(ARGV[x + 1])
    if not off or not nc or nc < 0 or (prev and off <= prev) then
      return {5, 'ERR malformed batch at argument ' .. x}
    end
    N[x], N[x + 1] = off, nc
    prev, x = off, x + 2
    for c = 1, nc do
      local na = tonumber(ARGV[x])
      if not na or na < 1 or x + na > n then
        return {5, 'ERR malformed batch at argument ' .. x}
      end
      N[x] = na
      x = x + 1 + na
    end
  end
  if prev ~= last then return {5, 'ERR malformed batch: last offset'} end
end

do
  local verr = ver_load(ck)
  if verr then return {5, verr} end
end

-- ==== Folded batches (projector/src/fold.h, docs/fold.md) ==============
-- The caller folded runs of one-command events on one key into the first
-- event's command; each later event of such a run carries the marker
-- '#<offset of the first>' instead: "applied, or failed, with it".  That
-- is exact only when no event is a duplicate and the batch starts right
-- after the checkpoint with no failed event recorded, so otherwise the
-- batch is refused here, before any write (code SFFOLD), and the caller
-- sends it unfolded.  The dry run assumes every event applies: an event
-- that then fails records no version, so the real run meets no duplicate
-- either.
if FOLD then
  if hoff then return {5, 'SFFOLD refused: a failed event is recorded'} end
  if N[EV0] <= ck then
    return {5, 'SFFOLD refused: the batch starts at or below the checkpoint'}
  end
  local seen = {}
  for x = 6, EV0 - 1, 4 do
    local k, v = A[x + 1], N[x + 2]
    local l = seen[k]
    if l == nil then l = vlast[k] or 0 end
    if v <= l then
      return {5, 'SFFOLD refused: a duplicate at offset ' .. A[x]}
    end
    seen[k] = v
  end
end
-- fate[offset] = why the event at offset failed (fold mode); unsure: a
-- folded counter the fold cannot vouch for (fold.h), which stops the
-- caller
local fate, unsure = {}, nil
-- ==== end of folded batches ==============================================

-- First write: the checkpoint, moved to the batch's end (the failure path
-- below moves it back to just before the failed event).  If Redis refuses
-- it, nothing has been written.
local w = redis.pcall('SET', KEYS[2], ARGV[3])
if type(w) == 'table' and w.err then return {5, w.err} end

-- Key types: kt caches what Redis holds (after this script's own writes);
-- sim is what an event's commands would leave, simulated before the event
-- runs.  'any' = may have been emptied: either its type or none.
local kt = {}
-- kn[key][field] = 'int' / 'float': a number this call's own INCRBY-like
-- command left there (field '' for a string key); any other command on
-- the key forgets it
local kn = {}
local function real_type(k)
  local t = kt[k]
  if t == nil then
    local r = redis.pcall('TYPE', k)
    t = type(r) == 'table' and r.ok or false -- false: unknown (e.g. NOPERM)
    kt[k] = t
  end
  return t
end

-- The command table row of a command name (rules may write it in lower
-- case), or false; each row built once per call.
local SPEC = {}
local function spec_of(name)
  local s = SPEC[name]
  if s == nil then
    s = SPEC_ROW(name) or SPEC_ROW(string.upper(name)) or false
    SPEC[name] = s
  end
  return s
end

-- The type k holds for the command being checked: after the event's
-- earlier commands (sim), else in Redis.
local function cur_type(sim, k)
  local t = sim[k]
  if t ~= nil then return t end
  return real_type(k)
end

local function key_range(s, j, na)
  -- ARGV[j] is the command's name (argument 0), ARGV[j + na - 1] its last
  local lk = s.last
  if lk < 0 then lk = na + lk end
  return j + s.first, j + lk, s.step
end

-- What the command leaves in its keys, into the event's simulation.
local function effect(sim, s, j, na)
  local a, b, st = key_range(s, j, na)
  for x = a, b, st do
    local k = ARGV[x]
    if s.makes == 'none' then sim[k] = 'none'
    elseif s.empties == 1 or (s.empties == 2 and x == a) then sim[k] = 'any'
    elseif s.makes ~= '' then
      if not s.nx or cur_type(sim, k) == 'none' then sim[k] = s.makes end
    end
  end
end

local function is_int(v) return v ~= nil and string.match(v, '^%-?%d+$') ~= nil end
local function is_num(v) return v ~= nil and tonumber(v) ~= nil end

-- Why the command at ARGV[j] (na arguments) would fail, or nil.  sim holds
-- the effects of the event's earlier commands.  first: nothing of the
-- event runs before this command, so if it fails when it runs, nothing of
-- the event is applied either -- the same outcome as a refusal here; the
-- checks that read Redis are skipped for it (a read per event saved), the
-- argument checks (which keep Lua errors out) are not.  last: no later
-- command of the event needs its effect simulated.
local function precheck(j, na, sim, first, last)
  if na > MAXARGS then
    return 'ERR command has ' .. na .. ' arguments, at most ' .. MAXARGS
  end
  local s = spec_of(ARGV[j])
  local name = s and s.name or string.upper(ARGV[j])
  if not s then return 'ERR ' .. name .. ' is not an allowed write command' end
  if (s.arity > 0 and na ~= s.arity) or (s.arity < 0 and na < -s.arity) then
    return 'ERR wrong number of arguments for ' .. name
  end
  if s.pairs > 0 and (na - s.pairs) % 2 == 1 then
    return 'ERR wrong number of arguments for ' .. name
  end
  local check = (s.num == 'int' or s.num == 'hint') and is_int or is_num
  local arg = s.numarg > 0 and ARGV[j + s.numarg] or nil
  if arg and not check(arg) then
    return 'ERR ' .. name .. ' increment ' .. arg .. ' is not a number'
  end
  local key = ARGV[j + 1]
  local hashy = s.num == 'hint' or s.num == 'hfloat'
  if first then
    -- nothing to read: see above
  elseif (hashy or s.num == 'int' or s.num == 'float') and sim[key] == nil then
    -- The event has not touched the key, so what Redis holds now is what
    -- the command will meet: one read tells both its type (WRONGTYPE) and
    -- the value, unless an earlier command of this call left a number.
    local field = hashy and ARGV[j + 2] or ''
    local kind = kn[key] and kn[key][field]
    if not (kind == 'int' or (kind == 'float' and check == is_num)) then
      local v
      if hashy then v = redis.pcall('HGET', key, field)
      else v = redis.pcall('GET', key) end
      if type(v) == 'table' and v.err then
        if string.sub(v.err, 1, 9) == 'WRONGTYPE' then
          return 'WRONGTYPE ' .. name .. ' needs a ' .. s.needs .. ' but ' ..
            key .. ' holds a ' .. tostring(real_type(key))
        end
        -- another refusal (NOPERM): the command itself will tell
      elseif type(v) == 'string' and not check(v) then
        return 'ERR ' .. name .. ' on ' .. key ..
          (hashy and (' field ' .. field) or '') .. ' which holds ' ..
          string.format('%q', string.sub(v, 1, 40)) .. ', not a number'
      end
    end
  elseif s.needs ~= '' then
    local a, b, st = key_range(s, j, na)
    for x = a, b, st do
      local have = cur_type(sim, ARGV[x])
      if have and have ~= 'none' and have ~= 'any' and have ~= s.needs then
        return 'WRONGTYPE ' .. name .. ' needs a ' .. s.needs .. ' but ' ..
          ARGV[x] .. ' holds a ' .. have
      end
    end
  end
  if not last then effect(sim, s, j, na) end
  return nil
end

local applied, i = 0, EV0

-- A command of the event at off failed: record the progress with the
-- checkpoint just before the event, in this same atomic step.
local function failed(off, done, nc, idx, why, keep_record)
  local c = string.format('%d', off - 1)
  redis.pcall('SET', KEYS[2], c)
  local recorded = 1
  if not keep_record then
    local r = redis.pcall('SET', KEYS[3],
      string.format('%d %d %d', off, done, nc))
    if type(r) == 'table' and r.err then recorded = 0 end
  end
  local reply = {4, string.format('%d', off), done, nc, idx, why, c,
    recorded, applied}
  for _, v in ipairs(ver_flush()) do reply[#reply + 1] = v end
  return reply
end

-- Applies the event whose first command's argument count is at ARGV[i].
-- Returns nothing when every command ran, else: how many of its commands
-- are applied, the index of the one that failed, why, and whether the
-- progress record must stay as it is.
local function apply_event(off, nc, i)
  -- commands 1..start-1 ran in an earlier call that failed after them
  local start = (off == hoff) and hdone + 1 or 1
  if off == hoff and hcmds and hcmds ~= nc and hdone > 0 then
    -- the record counts commands of another version of this event (the
    -- rules changed since): which of these ran cannot be told
    return hdone, hdone + 1, 'ERR the progress record says ' .. hdone ..
      ' of ' .. hcmds .. ' commands ran, the event now has ' .. nc ..
      ' (rules changed): dead-letter or skip it', true
  end
  local sim, j = {}, i
  for c = 1, nc do
    local na = N[j]
    if c >= start then
      local why = precheck(j + 1, na, sim, c == start, c == nc)
      if why then return start - 1, c, why end
    end
    j = j + 1 + na
  end
  j = i
  for c = 1, nc do
    local na = N[j]
    if c >= start then
      local r = redis.pcall(unpack(ARGV, j + 1, j + na))
      if type(r) == 'table' and r.err then
        -- name the command and its first key: an ACL refusal (NOPERM) or
        -- an OOM does not say which key it was about
        local k = na > 1 and (' ' .. string.sub(ARGV[j + 2], 1, 200)) or ''
        if FOLD and string.find(r.err, 'overflow', 1, true) then
          unsure = r.err .. ' (' .. ARGV[j + 1] .. k .. ')'
        end
        return c - 1, c, r.err .. ' (' .. ARGV[j + 1] .. k .. ')'
      end
      if FOLD and type(r) == 'number' and
          (r >= 4611686018427387904 or r <= -4611686018427387904) then
        unsure = ARGV[j + 1] .. ' ' .. string.sub(ARGV[j + 2], 1, 200) ..
          ' left ' .. string.format('%.0f', r) .. ', within 2^62 of the limit'
      end
      -- what Redis now holds in the command's keys; nil: look again
      local s = spec_of(ARGV[j + 1])
      local numeric = s.num == 'int' or s.num == 'float' or
        s.num == 'hint' or s.num == 'hfloat'
      local a, b, st = key_range(s, j + 1, na)
      for x = a, b, st do
        local t = nil
        if s.makes == 'none' then t = 'none'
        elseif s.makes ~= '' and not s.nx and s.empties == 0 then
          t = s.makes
        end
        kt[ARGV[x]] = t
        if not numeric then kn[ARGV[x]] = nil end
      end
      if numeric then
        local k = ARGV[j + 2]
        local field = (s.num == 'hint' or s.num == 'hfloat') and
          ARGV[j + 3] or ''
        kn[k] = kn[k] or {}
        kn[k][field] = (s.num == 'int' or s.num == 'hint') and 'int' or
          'float'
      end
    end
    j = j + 1 + na
  end
end

-- Events that failed in 'skip' mode: offset, done, ncmds, index, error.
local skipped = {}
while i <= n do
  local off, nc = N[i], N[i + 1]
  i = i + 2
  local ev_end = i
  for c = 1, nc do ev_end = ev_end + 1 + N[ev_end] end
  -- at or below the checkpoint: applied before (a re-sent batch)
  local vx = nil
  if off > ck then vx = ver_check(off) end
  if vx == 'dup' then
    -- a duplicate: passed, not applied (a failed record of it goes too)
    if off == hoff then
      redis.pcall('DEL', KEYS[3])
      hoff = nil
    end
  elseif off > ck then
    local done, idx, why, keep
    if FOLD and nc == 1 and string.byte(ARGV[i + 1]) == 35 then
      -- a marker ('#'): the fate of the event that holds its command
      local f = fate[tonumber(string.sub(ARGV[i + 1], 2))]
      if f then done, idx, why = 0, 1, f end
    else
      done, idx, why, keep = apply_event(off, nc, i)
      if unsure then return {5, 'SFFOLDUNSURE ' .. unsure} end
    end
    if done == nil then
      applied = applied + 1
      if vx then ver_done(vx) end
    elseif mode == 'skip' or FOLD then
      for _, v in ipairs({string.format('%d', off), done, nc, idx, why}) do
        skipped[#skipped + 1] = v
      end
      -- the caller dead-letters it: done with, as the live worker's
      -- checkpoint move records it (advance.lua), so a copy of it is a
      -- duplicate and its applied commands never run again
      if vx then ver_done(vx) end
      if FOLD then fate[off] = why end
    else
      return failed(off, done, nc, idx, why, keep)
    end
    if off == hoff then
      redis.pcall('DEL', KEYS[3])
      hoff = nil
    end
  end
  i = ev_end
end
if hoff and hoff <= last then
  -- the failed event was skipped or parked by the caller's checkpoint move
  redis.pcall('DEL', KEYS[3])
end
local reply = {0, applied, #skipped / 5}
for _, v in ipairs(skipped) do reply[#reply + 1] = v end
for _, v in ipairs(ver_flush()) do reply[#reply + 1] = v end
return reply
