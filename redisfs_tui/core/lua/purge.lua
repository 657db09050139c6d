-- fsck repair: delete an inode that no entry and no open handle refers to.  ARGV: P, ino
do local refused = need_sb() if refused then return refused end end
if redis.call('EXISTS', ikey(ARGV[2])) == 0 then return with_freed(0) end
purge(ARGV[2])
return with_freed(1)
