-- Remove a name (unlink) or an empty directory (rmdir).
-- ARGV: P, parent, name, now, rmdir ('1' or '0'), [expected inode]
-- With an expected inode (what a FUSE mount's kernel believes the name is), a name that
-- now holds another inode is left alone: ESTALE (the kernel looks it up again).
do local refused = need_sb() if refused then return refused end end
local parent, name, now = ARGV[2], ARGV[3], ARGV[4]
local err = dir_error(parent)
if err then return fail(err) end
local d = dkey(parent)
local ino = redis.call('HGET', d, name)
if not ino then return fail('ENOENT') end
if (ARGV[6] or '') ~= '' and ino ~= ARGV[6] then return fail('ESTALE') end
local m = mode_of(ino)
before_change(parent)
if ARGV[5] == '1' then
  if m and not is_dir(m) then return fail('ENOTDIR') end
  if redis.call('EXISTS', dkey(ino)) == 1 then return fail('ENOTEMPTY') end
  redis.call('HDEL', d, name)
  if m then
    redis.call('HINCRBY', ikey(parent), 'nlink', -1)
    purge(ino)
  end
else
  if m and is_dir(m) then return fail('EISDIR') end
  redis.call('HDEL', d, name)
  if m then drop_link(ino, now) end
end
touch(parent, now)
if string.match(ino, '^%d+$') then return with_freed(tonumber(ino)) end
return with_freed(0)  -- the entry held no inode number (damaged)
