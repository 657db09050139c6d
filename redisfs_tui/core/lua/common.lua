-- Shared helpers; the key-name functions come from keys.lua_prelude().
local S_IFMT = 61440
local S_IFDIR = 16384
local S_IFREG = 32768
local function int(n) return string.format('%d', n) end
local function fail(code) return redis.error_reply(code) end
-- Every script that changes anything calls this first: without a superblock the next
-- create would hand out inode 1 again and overwrite the root (the key was deleted or
-- evicted under a live mount).  Checked before anything is written.
local function need_sb()
  if redis.call('HEXISTS', SB, 'format_version') == 0 then
    return redis.error_reply('EUCLEAN superblock missing (' .. SB .. ' is gone or has no '
      .. 'format_version): refusing to change anything')
  end
  return nil
end
-- Keep an inode's `blocks` field (its stored block keys) right; an inode without the
-- field (written by an older redisfs) stays without it: its count is unknown.
local function add_blocks(ino, n, base)
  if n ~= 0 and redis.call('HEXISTS', ikey(ino, base), 'blocks') == 1 then
    redis.call('HINCRBY', ikey(ino, base), 'blocks', n)
  end
end
local function mode_of(ino)
  local m = redis.call('HGET', ikey(ino), 'mode')
  if not m then return nil end
  return tonumber(m)
end
local function is_dir(mode) return bit.band(mode, S_IFMT) == S_IFDIR end
local function is_reg(mode) return bit.band(mode, S_IFMT) == S_IFREG end
local function dir_error(ino)
  local m = mode_of(ino)
  if not m then return 'ENOENT' end
  if not is_dir(m) then return 'ENOTDIR' end
  return nil
end
local function block_hash(ino, idx)
  local cur = redis.call('GET', bkey(ino, idx))
  if cur then return redis.sha1hex(cur) end
  return ''
end
-- Call fn(key) for every stored block of `ino` with index in [first, last].
-- Looping over indices costs O(last - first); a huge sparse file has millions of
-- indices but few keys, so past the size of the keyspace one SCAN is cheaper.
local function each_block(ino, first, last, fn, base)
  if last < first then return end
  if last - first < 1024 or last - first < redis.call('DBSIZE') then
    for i = first, last do fn(bkey(ino, i, base)) end
    return
  end
  local pattern = bpattern(ino, base)
  local stem = string.len(pattern)  -- the index starts where the '*' stands
  local cursor = '0'
  repeat
    local reply = redis.call('SCAN', cursor, 'MATCH', pattern, 'COUNT', 1000)
    cursor = reply[1]
    for _, key in ipairs(reply[2]) do
      local idx = tonumber(string.sub(key, stem))
      if idx and idx >= first and idx <= last then fn(key) end
    end
  until cursor == '0'
end
-- Call fn(ino) for every inode of the filesystem at `base`.  Counting to next_ino costs
-- what next_ino says (a damaged one may be 10^12: the server would be busy for ever);
-- past the size of the keyspace one SCAN of the inode keys is cheaper.
local function each_inode(base, fn)
  local last = tonumber(redis.call('HGET', sbkey(base), 'next_ino') or '0') or 0
  if last < 1024 or last < redis.call('DBSIZE') then
    for ino = 1, last do fn(int(ino)) end
    return
  end
  local stem = string.len(ikey('', base)) + 1
  local seen, cursor = {}, '0'
  repeat
    local reply = redis.call('SCAN', cursor, 'MATCH', ikey('*', base), 'COUNT', 1000)
    cursor = reply[1]
    for _, key in ipairs(reply[2]) do
      local ino = string.sub(key, stem)
      if string.match(ino, '^%d+$') and not seen[ino] then  -- SCAN may repeat a key
        seen[ino] = true
        fn(ino)
      end
    end
  until cursor == '0'
end
-- Delete stored blocks [first, last]; returns the stored bytes freed (and keeps the
-- inode's `blocks` count right).
local function drop_blocks(ino, first, last, base)
  local freed, dropped = 0, 0
  each_block(ino, first, last, function(key)
    freed = freed + redis.call('STRLEN', key)
    dropped = dropped + redis.call('DEL', key)
  end, base)
  add_blocks(ino, -dropped, base)
  return freed
end
-- Delete an inode with its blocks, xattrs and entries, keeping the superblock counters right.
local function purge(ino)
  local k = ikey(ino)
  local f = redis.call('HMGET', k, 'mode', 'size')
  local mode = tonumber(f[1] or '0')
  local size = tonumber(f[2] or '0')
  if is_reg(mode) then
    local bs = tonumber(redis.call('HGET', SB, 'block_size'))
    local stored = drop_blocks(ino, 0, math.ceil(size / bs) - 1)
    redis.call('HINCRBY', SB, 'logical_bytes', int(-size))
    redis.call('HINCRBY', SB, 'stored_bytes', int(-stored))
  end
  redis.call('DEL', k, xkey(ino), dkey(ino))
  redis.call('SREM', ORPHANS, ino)
  redis.call('HINCRBY', SB, 'inodes', -1)
end
-- Remove one name of a non-directory; keep it as an orphan while some handle has it open.
local function drop_link(ino, now)
  local k = ikey(ino)
  local n = redis.call('HINCRBY', k, 'nlink', -1)
  if n <= 0 then
    if tonumber(redis.call('HGET', k, 'open') or '0') > 0 then
      redis.call('HSET', k, 'nlink', 0, 'ctime', now)
      redis.call('SADD', ORPHANS, ino)
    else
      purge(ino)
    end
  else
    redis.call('HSET', k, 'ctime', now)
  end
end
-- Drop `count` open handles of an inode; purge it if that was the last handle of an
-- unlinked file.  Returns 1 when the inode was purged, else 0.
local function drop_handles(ino, count)
  local k = ikey(ino)
  if redis.call('EXISTS', k) == 0 then return 0 end
  if redis.call('HINCRBY', k, 'open', -count) > 0 then return 0 end
  redis.call('HDEL', k, 'open')
  if tonumber(redis.call('HGET', k, 'nlink') or '0') > 0 then return 0 end
  purge(ino)
  return 1
end
local function touch(ino, now)
  redis.call('HSET', ikey(ino), 'mtime', now, 'ctime', now)
end
