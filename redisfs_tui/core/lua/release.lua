-- Drop an open handle; purge the inode when it was the last one of an unlinked file.
-- ARGV: P, ino, session, count
local ino, sid, count = ARGV[2], ARGV[3], tonumber(ARGV[4])
local s = redis.call('HINCRBY', skey(sid), ino, -count)
if s <= 0 then redis.call('HDEL', skey(sid), ino) end
local k = ikey(ino)
if redis.call('EXISTS', k) == 0 then return 0 end
local n = redis.call('HINCRBY', k, 'open', -count)
if n <= 0 then
  redis.call('HDEL', k, 'open')
  if tonumber(redis.call('HGET', k, 'nlink') or '0') <= 0 then purge(ino) end
end
return 1
