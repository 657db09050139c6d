-- ARGV: P, ino, name, now
if redis.call('EXISTS', ikey(ARGV[2])) == 0 then return fail('ENOENT') end
if redis.call('HDEL', xkey(ARGV[2]), ARGV[3]) == 0 then return fail('ENODATA') end
redis.call('HSET', ikey(ARGV[2]), 'ctime', ARGV[4])
return 1
