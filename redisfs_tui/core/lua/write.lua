-- Point blocks of a file at new pool blocks (stored by the client just before, in the
-- same pipeline) and grow the size, atomically.
-- ARGV: P, ino, end_offset, now, n, then n attribute pairs applied after the data
-- (as setattr.lua: 'perm', 'uid', 'gid', 'atime', 'mtime'), then triples (block index,
-- the map entry the caller read ('' none) or '-' for no check, new '<id>.<stored_len>'
-- or '' for a hole).
-- Returns {0, {}} (retry) when an entry changed since the caller read it; otherwise
-- {{mtime, size before, mtime, size after}, pool keys to free}.
do local refused = need_sb() if refused then return refused end end
local ino, endpos, now = ARGV[2], tonumber(ARGV[3]), ARGV[4]
local first = 6 + 2 * tonumber(ARGV[5])
local k = ikey(ino)
local f = redis.call('HMGET', k, 'mode', 'size', 'mtime')
if not f[1] then return fail('ENOENT') end
if is_dir(tonumber(f[1])) then return fail('EISDIR') end
if not is_reg(tonumber(f[1])) then return fail('EINVAL') end
local map = kkey(ino)
-- a repeat of this very write (its reply was lost): done already, and freeing its new
-- blocks on a "changed meanwhile" would cut them out from under the map
for i = first, #ARGV, 3 do
  if already_stored(map, ARGV[i], ARGV[i + 2]) then
    return with_freed({f[3] or '0', f[2] or '0', f[3] or '0', f[2] or '0'})
  end
end
for i = first, #ARGV, 3 do
  if ARGV[i + 1] ~= '-' and (redis.call('HGET', map, ARGV[i]) or '') ~= ARGV[i + 1] then
    return with_freed(0)
  end
end
-- GC deletes unreferenced blocks older than 10 minutes: an id made longer ago than 5
-- minutes (a stalled writer) may already be judged, so it is never committed
local oldest = tonumber(redis.call('TIME')[1]) - 300
for i = first, #ARGV, 3 do
  if ARGV[i + 2] ~= '' and (tonumber(string.sub(ARGV[i + 2], 1, 8), 16) or 0) < oldest then
    return fail('ETIMEDOUT block id older than 5 minutes (is the clock of this client off?)')
  end
end
local sb = redis.call('HMGET', SB, 'epoch', 'pool')
-- the pipeline's SET may have failed (an ACL, OOM): never point the map at nothing.  On
-- Cluster the block lives in another slot and cannot be looked at (pcall's error): there
-- the client runs this script only after every SET succeeded (calls.ClusterCalls)
for i = first, #ARGV, 3 do
  local id = string.match(ARGV[i + 2], '^(%x+)%.')
  if id and redis.pcall('EXISTS', pool_block(sb[2], id)) == 0 then
    return fail('EIO new block ' .. id .. ' was not stored')
  end
end
before_change(ino)
local delta = 0
for i = first, #ARGV, 3 do
  local idx, new = ARGV[i], ARGV[i + 2]
  local old = redis.call('HGET', map, idx)
  local e, old_id, len = entry_parts(old)
  if old then
    if old_id and e == sb[1] then table.insert(FREED, pool_block(sb[2], old_id)) end
    delta = delta - (len or 0)
  end
  if new ~= '' then
    redis.call('HSET', map, idx, sb[1] .. '.' .. new)
    delta = delta + entry_len(sb[1] .. '.' .. new)
  elseif old then
    redis.call('HDEL', map, idx)
  end
end
local size = tonumber(f[2] or '0')
if endpos > size then
  redis.call('HSET', k, 'size', int(endpos))
  redis.call('HINCRBY', SB, 'logical_bytes', int(endpos - size))
end
redis.call('HSET', k, 'mtime', now, 'ctime', now)
for i = 6, first - 1, 2 do
  local name, v = ARGV[i], ARGV[i + 1]
  if name == 'perm' then
    name = 'mode'
    v = int(bit.bor(bit.band(tonumber(f[1]), S_IFMT), bit.band(tonumber(v), 4095)))
  end
  redis.call('HSET', k, name, v)
end
if delta ~= 0 then redis.call('HINCRBY', SB, 'stored_bytes', int(delta)) end
return with_freed({f[3] or '0', int(size), redis.call('HGET', k, 'mtime'),
  int(math.max(size, endpos))})
