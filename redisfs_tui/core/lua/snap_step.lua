-- One bounded batch of a running snapshot: SCAN on from the saved cursor, copy the
-- inodes that existed when it began (number <= snap_upto) and no change script copied
-- yet; at the end of the SCAN finish: D complete, P's snap_* fields and bitmap gone.
-- ARGV: P, most inodes to copy, most SCAN calls   Returns {copied, done (0/1)}.
local f = redis.call('HMGET', SB, 'snap_to', 'snap_upto', 'snap_cursor')
if not f[1] then return fail('ENOENT no snapshot of this filesystem is running') end
local D, upto, cursor = f[1], tonumber(f[2]) or 0, f[3] or '0'
local budget, calls = tonumber(ARGV[2]), tonumber(ARGV[3])
local copied, stem = 0, string.len(ikey('')) + 1
local done = false
for _ = 1, calls do
  local reply = redis.call('SCAN', cursor, 'MATCH', ikey('*'), 'COUNT', 100)
  cursor = reply[1]
  for _, key in ipairs(reply[2]) do
    local ino = string.sub(key, stem)
    local n = tonumber(ino)
    if string.match(ino, '^%d+$') and n <= upto
        and redis.call('SADD', snapcopied_key(P), ino) == 1 then
      copied = copied + copy_inode(ino, P, D)
    end
  end
  if cursor == '0' then done = true break end
  if copied >= budget then break end
end
if done then
  redis.call('DEL', snapcopied_key(P))
  redis.call('HDEL', SB, 'snap_to', 'snap_upto', 'snap_cursor', 'snap_beat')
  redis.call('HDEL', sbkey(D), 'incomplete')
  return {copied, 1}
end
redis.call('HSET', SB, 'snap_cursor', cursor, 'snap_beat', redis.call('TIME')[1])
return {copied, 0}
