-- Begin a snapshot (or the copy half of a restore) of P into D: D gets P's superblock
-- marked incomplete, P records the copy (snap_to, snap_upto, snap_cursor, snap_beat)
-- so every change script copies an inode into D before changing it (before_change),
-- and both epochs move past every entry either holds: from now on no block either
-- references is exclusive.  Batches follow (snap_step.lua).
-- ARGV: P, D, now (ns), uuid, kind ('snapshot' or 'restore'), source prefix
-- Returns 'ok', or {'stale', D} when an earlier copy stopped without progress for 60 s.
local D, now = ARGV[2], ARGV[3]
local dsb = sbkey(D)
if redis.call('EXISTS', SB) == 0 then return fail('ENOENT') end
do local refused = need_sb() if refused then return refused end end
if redis.call('HEXISTS', SB, 'incomplete') == 1 then
  return fail('EBUSY the source is itself an incomplete snapshot')
end
local running = redis.call('HMGET', SB, 'snap_to', 'snap_beat')
if running[1] then
  local t = tonumber(redis.call('TIME')[1])
  if t - (tonumber(running[2]) or 0) > 60 then return {'stale', running[1]} end
  return fail('EBUSY a snapshot of this filesystem into ' .. running[1] .. ' is running')
end
if redis.call('EXISTS', dsb) == 1 then return fail('EEXIST') end
local epoch = tonumber(redis.call('HGET', SB, 'epoch')) + 1
redis.call('COPY', SB, dsb)
redis.call('HSET', dsb, 'created', now, 'uuid', ARGV[4], 'inodes', 0, 'logical_bytes', 0,
  'stored_bytes', 0, 'epoch', epoch, 'incomplete', 1)
if ARGV[5] == 'snapshot' then
  redis.call('HSET', dsb, 'snapshot_of', ARGV[6])
else
  redis.call('HDEL', dsb, 'snapshot_of')
end
redis.call('DEL', snapcopied_key(P))
redis.call('HSET', SB, 'epoch', epoch, 'snap_to', D, 'snap_upto',
  redis.call('HGET', SB, 'next_ino') or '0', 'snap_cursor', '0',
  'snap_beat', redis.call('TIME')[1])
return 'ok'
