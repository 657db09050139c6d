-- rename(2) with RENAME_NOREPLACE (1) and RENAME_EXCHANGE (2), all in one atomic step.
-- ARGV: P, src_parent, src_name, dst_parent, dst_name, flags, now, [expected source inode,
-- expected target inode]: as unlink.lua, a name holding another inode than expected
-- is left alone (ESTALE).
do local refused = need_sb() if refused then return refused end end
local sp, sname, dp, dname = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local flags, now = tonumber(ARGV[6]), ARGV[7]
local err = dir_error(sp) or dir_error(dp)
if err then return fail(err) end
local sino = redis.call('HGET', dkey(sp), sname)
if not sino then return fail('ENOENT') end
local smode = mode_of(sino)
if not smode then return fail('ENOENT') end
local dino = redis.call('HGET', dkey(dp), dname)
if (ARGV[8] or '') ~= '' and sino ~= ARGV[8] then return fail('ESTALE') end
if (ARGV[9] or '') ~= '' and dino ~= ARGV[9] then return fail('ESTALE') end
if flags == 2 and not dino then return fail('ENOENT') end
if dino and flags == 1 then return fail('EEXIST') end
if dino == sino then return with_freed({sino, dino}) end
-- true when `start` is `ancestor` or lies below it (walks parent pointers up to the root)
local function inside(ancestor, start)
  local cur = start
  for _ = 1, 100000 do
    if cur == ancestor then return true end
    if cur == '1' then return false end
    local p = redis.call('HGET', ikey(cur), 'parent')
    if not p or p == cur then return false end
    cur = p
  end
  return true
end
local sdir = is_dir(smode)
if sdir and inside(sino, dp) then return fail('EINVAL') end
local dmode = nil
if dino then dmode = mode_of(dino) end
local ddir = dmode ~= nil and is_dir(dmode)
before_change(sp)
before_change(dp)
before_change(sino)
if dino then before_change(dino) end
if flags == 2 then
  if ddir and inside(dino, sp) then return fail('EINVAL') end
  redis.call('HSET', dkey(sp), sname, dino)
  redis.call('HSET', dkey(dp), dname, sino)
  if sp ~= dp then
    if sdir then
      redis.call('HINCRBY', ikey(sp), 'nlink', -1)
      redis.call('HINCRBY', ikey(dp), 'nlink', 1)
    end
    if ddir then
      redis.call('HINCRBY', ikey(dp), 'nlink', -1)
      redis.call('HINCRBY', ikey(sp), 'nlink', 1)
    end
  end
  if dmode then redis.call('HSET', ikey(dino), 'parent', sp, 'ctime', now) end
else
  if dmode then
    if sdir and not ddir then return fail('ENOTDIR') end
    if ddir and not sdir then return fail('EISDIR') end
    if ddir then
      if redis.call('EXISTS', dkey(dino)) == 1 then return fail('ENOTEMPTY') end
      redis.call('HINCRBY', ikey(dp), 'nlink', -1)
      purge(dino)
    else
      drop_link(dino, now)
    end
  end
  redis.call('HDEL', dkey(sp), sname)
  redis.call('HSET', dkey(dp), dname, sino)
  if sdir and sp ~= dp then
    redis.call('HINCRBY', ikey(sp), 'nlink', -1)
    redis.call('HINCRBY', ikey(dp), 'nlink', 1)
  end
end
redis.call('HSET', ikey(sino), 'parent', dp, 'ctime', now)
touch(sp, now)
if dp ~= sp then touch(dp, now) end
return with_freed({sino, dino or '0'})
