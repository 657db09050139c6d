-- Drop open handles; purge an inode when it was the last one of an unlinked file.
-- ARGV: P, session, then pairs (ino, count)   Returns the number of inodes purged.
do local refused = need_sb() if refused then return refused end end
local sid = ARGV[2]
local freed = 0
for i = 3, #ARGV, 2 do
  local ino, count = ARGV[i], tonumber(ARGV[i + 1])
  if redis.call('HINCRBY', skey(sid), ino, -count) <= 0 then redis.call('HDEL', skey(sid), ino) end
  freed = freed + drop_handles(ino, count)
end
return with_freed(freed)
