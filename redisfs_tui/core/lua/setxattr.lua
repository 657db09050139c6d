-- ARGV: P, ino, name, value, flags (1 XATTR_CREATE, 2 XATTR_REPLACE), now
do local refused = need_sb() if refused then return refused end end
local ino, name, flags = ARGV[2], ARGV[3], tonumber(ARGV[5])
if redis.call('EXISTS', ikey(ino)) == 0 then return fail('ENOENT') end
local exists = redis.call('HEXISTS', xkey(ino), name)
if flags == 1 and exists == 1 then return fail('EEXIST') end
if flags == 2 and exists == 0 then return fail('ENODATA') end
before_change(ino)
redis.call('HSET', xkey(ino), name, ARGV[4])
redis.call('HSET', ikey(ino), 'ctime', ARGV[6])
return 1
