-- Release every handle a dead session held, purging orphans nobody holds any more.
-- ARGV: P, session   Returns the number of inodes purged.
local held = redis.call('HGETALL', skey(ARGV[2]))
local purged = 0
for i = 1, #held, 2 do
  local ino, count = held[i], tonumber(held[i + 1])
  local k = ikey(ino)
  if redis.call('EXISTS', k) == 1 then
    local n = redis.call('HINCRBY', k, 'open', -count)
    if n <= 0 then
      redis.call('HDEL', k, 'open')
      if tonumber(redis.call('HGET', k, 'nlink') or '0') <= 0 then
        purge(ino)
        purged = purged + 1
      end
    end
  end
end
redis.call('DEL', skey(ARGV[2]))
return purged
