-- Set attribute fields; 'perm' replaces the permission bits and keeps the file type.
-- ARGV: P, ino, now, field, value, ...   Returns the new HGETALL.
do local refused = need_sb() if refused then return refused end end
local k = ikey(ARGV[2])
local m = redis.call('HGET', k, 'mode')
if not m then return fail('ENOENT') end
before_change(ARGV[2])
local args = {'ctime', ARGV[3]}
for i = 4, #ARGV, 2 do
  local f, v = ARGV[i], ARGV[i + 1]
  if f == 'perm' then
    f = 'mode'
    v = int(bit.bor(bit.band(tonumber(m), S_IFMT), bit.band(tonumber(v), 4095)))
  end
  table.insert(args, f)
  table.insert(args, v)
end
redis.call('HSET', k, unpack(args))
return redis.call('HGETALL', k)
