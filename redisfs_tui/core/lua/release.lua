-- Drop open handles; purge an inode when it was the last one of an unlinked file.
-- ARGV: P, session, then pairs (ino, count)
local sid = ARGV[2]
local freed = 0
for i = 3, #ARGV, 2 do
  local ino, count = ARGV[i], tonumber(ARGV[i + 1])
  local s = redis.call('HINCRBY', skey(sid), ino, -count)
  if s <= 0 then redis.call('HDEL', skey(sid), ino) end
  local k = ikey(ino)
  if redis.call('EXISTS', k) == 1 then
    local n = redis.call('HINCRBY', k, 'open', -count)
    if n <= 0 then
      redis.call('HDEL', k, 'open')
      if tonumber(redis.call('HGET', k, 'nlink') or '0') <= 0 then
        purge(ino)
        freed = freed + 1
      end
    end
  end
end
return freed
