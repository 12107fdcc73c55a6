-- advance.lua - moves a partition's checkpoint forward past an event the
-- caller has handled otherwise (dead-lettered, or skipped by an operator),
-- never back, and clears the progress record of a failed event it passes.
--
-- KEYS[1] epoch, KEYS[2] checkpoint, KEYS[3] progress record (apply.lua)
-- KEYS[4] optional: the version key of the event passed (apply.lua's
--         duplicate rule), raised to ARGV[4] unless it holds that version
--         or a higher one: a dead-lettered event is done with, so a copy
--         of it is a duplicate, not a new event whose commands run again
-- ARGV[1] the caller's fencing token, '' for operator commands (no check)
-- ARGV[2] the offset the checkpoint moves to
-- ARGV[3] the checkpoint the caller last saw ('-1': none), '' for no check
--         (operator commands, the rebuild): compare-and-set, as apply.lua
--         does, so that a checkpoint Redis lost (an AOF cut, a failover)
--         is never jumped over: the events between would be skipped
-- ARGV[4] with KEYS[4]: "<version>[:<id tag>]"
-- Reply: {0, previous checkpoint}, {1, epoch} when fenced, or
-- {2, stored checkpoint} when it is neither ARGV[3] nor ARGV[2] (nothing
-- written).
if ARGV[1] ~= '' then
  local ep = redis.call('GET', KEYS[1])
  if ep ~= ARGV[1] then return {1, ep or '0'} end
end
local ck = redis.call('GET', KEYS[2])
if ARGV[3] ~= '' and tonumber(ck or '-1') ~= tonumber(ARGV[3])
    and tonumber(ck or '-1') ~= tonumber(ARGV[2]) then
  return {2, ck or '-1'}
end
if tonumber(ARGV[2]) > tonumber(ck or '-1') then
  redis.call('SET', KEYS[2], ARGV[2])
end
local h = redis.call('GET', KEYS[3])
if h and tonumber(string.match(h, '^%-?%d+')) <= tonumber(ARGV[2]) then
  redis.call('DEL', KEYS[3])
end
if KEYS[4] then
  local v = tonumber(string.match(ARGV[4], '^(%d+)'))
  local cur = tonumber(string.match(redis.call('GET', KEYS[4]) or '', '^(%d+)'))
  if v and (not cur or v > cur) then redis.call('SET', KEYS[4], ARGV[4]) end
end
return {0, ck or '-1'}
