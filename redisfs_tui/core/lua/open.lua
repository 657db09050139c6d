-- Register an open handle (so an unlinked file survives until its last close).
-- ARGV: P, ino, session   Returns HGETALL of the inode.
do local refused = need_sb() if refused then return refused end end
local k = ikey(ARGV[2])
if redis.call('EXISTS', k) == 0 then return fail('ENOENT') end
redis.call('HINCRBY', k, 'open', 1)
redis.call('HINCRBY', skey(ARGV[3]), ARGV[2], 1)
return redis.call('HGETALL', k)
