-- Point-in-time copy of a whole filesystem into another prefix, in one atomic step.
-- ARGV: P (source base), D (destination base), now, uuid, mode ('snapshot' or 'restore'),
--       source prefix.  'restore' first wipes the destination by its own inode inventory.
-- Inodes that are unlinked but still open (nlink 0) are not copied.  Returns inodes copied.
local D, now = ARGV[2], ARGV[3]
local dsb = sbkey(D)
if redis.call('EXISTS', SB) == 0 then return fail('ENOENT') end
if ARGV[5] == 'snapshot' and redis.call('EXISTS', dsb) == 1 then return fail('EEXIST') end
if ARGV[5] == 'restore' and redis.call('EXISTS', dsb) == 1 then
  local dbs = tonumber(redis.call('HGET', dsb, 'block_size') or '131072')
  each_inode(D, function(ino)
    local k = ikey(ino, D)
    local size = redis.call('HGET', k, 'size')
    if size then
      drop_blocks(ino, 0, math.ceil(tonumber(size) / dbs) - 1, D)
      redis.call('DEL', k, dkey(ino, D), xkey(ino, D))
    end
  end)
  redis.call('DEL', dsb, orphans_key(D))
end
local bs = tonumber(redis.call('HGET', SB, 'block_size'))
local inodes, logical, stored = 0, 0, 0
each_inode(P, function(ino)
  local k = ikey(ino)
  local f = redis.call('HMGET', k, 'mode', 'size', 'nlink')
  if f[1] and tonumber(f[3] or '0') > 0 then
    redis.call('COPY', k, ikey(ino, D), 'REPLACE')
    redis.call('HDEL', ikey(ino, D), 'open')
    redis.call('COPY', dkey(ino), dkey(ino, D), 'REPLACE')
    redis.call('COPY', xkey(ino), xkey(ino, D), 'REPLACE')
    inodes = inodes + 1
    if is_reg(tonumber(f[1])) then
      local size = tonumber(f[2] or '0')
      logical = logical + size
      local src_stem = string.len(bpattern(ino))
      local copied = 0
      each_block(ino, 0, math.ceil(size / bs) - 1, function(key)
        local idx = tonumber(string.sub(key, src_stem))
        if redis.call('COPY', key, bkey(ino, idx, D), 'REPLACE') == 1 then
          stored = stored + redis.call('STRLEN', key)
          copied = copied + 1
        end
      end)
      -- the copy's count is exact, whether or not the source knew its own
      redis.call('HSET', ikey(ino, D), 'blocks', copied)
    end
  end
end)
redis.call('COPY', SB, dsb, 'REPLACE')
redis.call('HSET', dsb, 'created', now, 'uuid', ARGV[4], 'inodes', inodes,
  'logical_bytes', int(logical), 'stored_bytes', int(stored))
if ARGV[5] == 'snapshot' then
  redis.call('HSET', dsb, 'snapshot_of', ARGV[6])
else
  redis.call('HDEL', dsb, 'snapshot_of')
end
return inodes
