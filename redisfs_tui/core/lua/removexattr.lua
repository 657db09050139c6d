-- ARGV: P, ino, name, now
do local refused = need_sb() if refused then return refused end end
if redis.call('EXISTS', ikey(ARGV[2])) == 0 then return fail('ENOENT') end
before_change(ARGV[2])
if redis.call('HDEL', xkey(ARGV[2]), ARGV[3]) == 0 then return fail('ENODATA') end
redis.call('HSET', ikey(ARGV[2]), 'ctime', ARGV[4])
return 1
