-- Walk path components from a start inode in one round trip.
-- ARGV: P, start_ino, name...   Returns {ino, HGETALL of the inode}.
local ino = ARGV[2]
for i = 3, #ARGV do
  local err = dir_error(ino)
  if err then return fail(err) end
  local child = redis.call('HGET', dkey(ino), ARGV[i])
  if not child then return fail('ENOENT') end
  ino = child
end
local attrs = redis.call('HGETALL', ikey(ino))
if #attrs == 0 then return fail('ENOENT') end
return {tonumber(ino), attrs}
