-- Set a regular file's size; shrinking drops whole blocks from the map and points the
-- partial last one at a new pool block (stored by the client just before).
-- ARGV: P, ino, new_size, now, the partial block's map entry the caller read ('' none),
-- its new '<id>.<stored_len>' ('' for a hole), has_tail
-- Returns {0, {}} (retry) when the partial block's entry changed since the caller read
-- it; otherwise {{mtime, size before, mtime, size after}, pool keys to free}.
do local refused = need_sb() if refused then return refused end end
local ino, newsize, now = ARGV[2], tonumber(ARGV[3]), ARGV[4]
local k = ikey(ino)
local f = redis.call('HMGET', k, 'mode', 'size', 'mtime')
if not f[1] then return fail('ENOENT') end
local mode = tonumber(f[1])
if is_dir(mode) then return fail('EISDIR') end
if not is_reg(mode) then return fail('EINVAL') end
local size = tonumber(f[2] or '0')
local bs = tonumber(redis.call('HGET', SB, 'block_size'))
local map = kkey(ino)
local tail = int(math.floor(newsize / bs))
if already_stored(map, tail, ARGV[6]) then  -- a repeat after a lost reply: see write.lua
  return with_freed({f[3] or '0', int(size), f[3] or '0', int(size)})
end
if newsize < size and ARGV[7] == '1' and (redis.call('HGET', map, tail) or '') ~= ARGV[5] then
  return with_freed(0)
end
if ARGV[6] ~= '' and (tonumber(string.sub(ARGV[6], 1, 8), 16) or 0)
    < tonumber(redis.call('TIME')[1]) - 300 then  -- see write.lua
  return fail('ETIMEDOUT block id older than 5 minutes (is the clock of this client off?)')
end
before_change(ino)
local delta = 0
if newsize >= size and ARGV[6] ~= '' then  -- growing: the client's new tail block is not needed
  table.insert(FREED, pool_block(redis.call('HGET', SB, 'pool'), string.match(ARGV[6], '^(%x+)')))
end
if newsize < size then
  if ARGV[7] == '1' then
    delta = delta - drop_entries(ino, tonumber(tail))
    if ARGV[6] ~= '' then
      local entry = redis.call('HGET', SB, 'epoch') .. '.' .. ARGV[6]
      redis.call('HSET', map, tail, entry)
      delta = delta + entry_len(entry)
    end
  else
    delta = delta - drop_entries(ino, math.ceil(newsize / bs))
  end
end
redis.call('HSET', k, 'size', int(newsize), 'mtime', now, 'ctime', now)
redis.call('HINCRBY', SB, 'logical_bytes', int(newsize - size))
if delta ~= 0 then redis.call('HINCRBY', SB, 'stored_bytes', int(delta)) end
return with_freed({f[3] or '0', int(size), now, int(newsize)})
