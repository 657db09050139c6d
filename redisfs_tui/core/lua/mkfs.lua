-- ARGV: P, version, block_size, codec, now, uuid, uid, gid, snapshot_of, pool
if redis.call('EXISTS', SB) == 1 then return fail('EEXIST') end
-- a root without a superblock: the superblock was deleted or evicted, the files are still
-- there; a new filesystem would hand their inode numbers out again and overwrite them
if redis.call('EXISTS', ikey(1)) == 1 then
  return redis.error_reply('EEXIST the keys of a filesystem remain under this prefix '
    .. 'without a superblock: restore it, or delete the leftovers first')
end
local now = ARGV[5]
redis.call('HSET', SB, 'format_version', ARGV[2], 'block_size', ARGV[3], 'codec', ARGV[4],
  'created', now, 'uuid', ARGV[6], 'next_ino', 1, 'inodes', 1,
  'logical_bytes', 0, 'stored_bytes', 0, 'pool', ARGV[10], 'epoch', 1)
if ARGV[9] ~= '' then redis.call('HSET', SB, 'snapshot_of', ARGV[9]) end
redis.call('HSET', ikey(1), 'mode', 16877, 'uid', ARGV[7], 'gid', ARGV[8], 'size', 0,
  'nlink', 2, 'atime', now, 'mtime', now, 'ctime', now, 'parent', 1)
return 1
