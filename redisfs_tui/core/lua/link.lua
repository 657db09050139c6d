-- Add a hard link.  ARGV: P, ino, new_parent, new_name, now
do local refused = need_sb() if refused then return refused end end
local ino, np, name, now = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local m = mode_of(ino)
if not m then return fail('ENOENT') end
if is_dir(m) then return fail('EPERM') end
local err = dir_error(np)
if err then return fail(err) end
if redis.call('HEXISTS', dkey(np), name) == 1 then return fail('EEXIST') end
if tonumber(redis.call('HGET', ikey(ino), 'nlink')) <= 0 then return fail('ENOENT') end
before_change(ino)
before_change(np)
redis.call('HSET', dkey(np), name, ino)
redis.call('HINCRBY', ikey(ino), 'nlink', 1)
redis.call('HSET', ikey(ino), 'ctime', now)
touch(np, now)
return 1
