-- Release every handle a dead session held, purging orphans nobody holds any more.
-- ARGV: P, session   Returns the number of inodes purged.
do local refused = need_sb() if refused then return refused end end
local held = redis.call('HGETALL', skey(ARGV[2]))
local purged = 0
for i = 1, #held, 2 do
  purged = purged + drop_handles(held[i], tonumber(held[i + 1]))
end
redis.call('DEL', skey(ARGV[2]))
return with_freed(purged)
