-- Create an inode and its directory entry.
-- ARGV: P, parent, name, mode, uid, gid, rdev, symlink_target, now, open_session
do local refused = need_sb() if refused then return refused end end
local parent, name, mode, now = ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[9]
local err = dir_error(parent)
if err then return fail(err) end
local d = dkey(parent)
if redis.call('HEXISTS', d, name) == 1 then return fail('EEXIST') end
before_change(parent)
local ino = redis.call('HINCRBY', SB, 'next_ino', 1)
local k = ikey(ino)
local nlink = 1
if is_dir(mode) then nlink = 2 end
redis.call('HSET', k, 'mode', ARGV[4], 'uid', ARGV[5], 'gid', ARGV[6],
  'size', string.len(ARGV[8]), 'nlink', nlink, 'atime', now, 'mtime', now, 'ctime', now,
  'parent', parent)
if ARGV[7] ~= '0' then redis.call('HSET', k, 'rdev', ARGV[7]) end
if ARGV[8] ~= '' then redis.call('HSET', k, 'target', ARGV[8]) end
if ARGV[10] ~= '' then
  redis.call('HSET', k, 'open', 1)
  redis.call('HINCRBY', skey(ARGV[10]), ino, 1)
end
redis.call('HSET', d, name, ino)
if is_dir(mode) then redis.call('HINCRBY', ikey(parent), 'nlink', 1) end
touch(parent, now)
redis.call('HINCRBY', SB, 'inodes', 1)
return ino
