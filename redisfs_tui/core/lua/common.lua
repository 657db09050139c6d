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
  local v = redis.call('HGET', SB, 'format_version')
  if not v then
    return redis.error_reply('EUCLEAN superblock missing (' .. SB .. ' is gone or has no '
      .. 'format_version): refusing to change anything')
  end
  if v ~= '2' then
    return redis.error_reply('EPROTO on-Redis format ' .. v .. ', this redisfs writes format 2'
      .. ' only: run redisfs-snapshot --upgrade')
  end
  return nil
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
-- Block maps (format 2): field = block index, value = '<epoch>.<id>.<stored_len>'.  Block
-- keys live in the pool and are never read here (they may be in other slots): a
-- script collects the pool keys of the entries it dropped that no other filesystem can
-- reference -- written at this filesystem's current epoch, i.e. after the last snapshot
-- or restore that shared it -- in FREED, and with_freed unlinks them.
local FREED = {}
local function entry_parts(v)
  local e, id, len = string.match(v or '', '^(%d+)%.(%x+)%.(%d+)$')
  return e, id, tonumber(len)
end
local function entry_len(v)
  local _, _, len = entry_parts(v)
  return len or 0
end
-- True when the map entry at `idx` already names the new block `new` ('<id>.<len>'): the
-- change that stores it was applied, and this call repeats it after its reply was lost
-- (a dropped connection re-sends the pipeline).  Ids are unique, so nothing else could.
local function already_stored(map, idx, new)
  local id = string.match(new or '', '^(%x+)%.')
  if not id then return false end
  local _, old_id = entry_parts(redis.call('HGET', map, idx))
  return old_id == id
end
-- Drop the map entries of `ino` whose index is >= first (all of them when first is 0);
-- frees the exclusive ones (FREED) and returns the stored bytes no longer referenced.
local function drop_entries(ino, first, base)
  local k = kkey(ino, base)
  local sb = redis.call('HMGET', sbkey(base or P), 'epoch', 'pool')
  local all = redis.call('HGETALL', k)
  local dropped, gone = 0, {}
  for i = 1, #all, 2 do
    local idx = tonumber(all[i])
    if first <= 0 or not idx or idx >= first then
      local e, id, len = entry_parts(all[i + 1])
      if id and e == sb[1] and sb[2] then table.insert(FREED, pool_block(sb[2], id)) end
      dropped = dropped + (len or 0)
      table.insert(gone, all[i])
    end
  end
  if first <= 0 then
    redis.call('DEL', k)
  else
    for i = 1, #gone, 1000 do
      redis.call('HDEL', k, unpack(gone, i, math.min(i + 999, #gone)))
    end
  end
  return dropped
end
-- The reply of a script that may free blocks: {reply, pool keys left to UNLINK}.  On one
-- server the script unlinks them itself (no extra round trip); on Cluster a block in
-- another slot cannot be touched (pcall's error) and the client unlinks it.
local function with_freed(reply)
  local left = {}
  for _, key in ipairs(FREED) do
    local done = redis.pcall('UNLINK', key)
    if type(done) == 'table' and done.err then table.insert(left, key) end
  end
  return {reply, left}
end
-- Copy one inode (inode, entries, xattrs, block map: metadata only, the blocks are
-- shared) from filesystem `src` to `dst`, counting it in dst's superblock.  Unlinked
-- inodes (nlink 0, kept while open) are not copied.  Returns 1 when copied.
local function copy_inode(ino, src, dst)
  local k = ikey(ino, src)
  local f = redis.call('HMGET', k, 'mode', 'size', 'nlink')
  if not f[1] or (tonumber(f[3] or '0') or 0) <= 0 then return 0 end
  redis.call('COPY', k, ikey(ino, dst), 'REPLACE')
  redis.call('HDEL', ikey(ino, dst), 'open')
  redis.call('COPY', dkey(ino, src), dkey(ino, dst), 'REPLACE')
  redis.call('COPY', xkey(ino, src), xkey(ino, dst), 'REPLACE')
  local dsb = sbkey(dst)
  if is_reg(tonumber(f[1]) or 0) then
    local stored = 0
    if redis.call('COPY', kkey(ino, src), kkey(ino, dst), 'REPLACE') == 1 then
      for _, v in ipairs(redis.call('HVALS', kkey(ino, src))) do stored = stored + entry_len(v) end
    end
    redis.call('HINCRBY', dsb, 'logical_bytes', int(tonumber(f[2] or '0') or 0))
    redis.call('HINCRBY', dsb, 'stored_bytes', int(stored))
  end
  redis.call('HINCRBY', dsb, 'inodes', 1)
  return 1
end
-- Copy-before-write: while a snapshot of this filesystem is being copied in batches
-- (superblock fields snap_to, snap_upto), every script calls this for each inode whose
-- i/d/x/k keys it is about to change, so the snapshot gets the inode as it was when
-- the snapshot began.  Costs one HMGET when no snapshot runs.
local SNAP = nil
local function before_change(ino)
  if SNAP == nil then
    local f = redis.call('HMGET', SB, 'snap_to', 'snap_upto')
    SNAP = false
    if f[1] then SNAP = {f[1], tonumber(f[2]) or 0} end
  end
  if not SNAP then return end
  local n = tonumber(ino)
  if not n or n > SNAP[2] then return end
  if redis.call('SADD', snapcopied_key(P), ino) == 0 then return end
  copy_inode(ino, P, SNAP[1])
end
-- Delete an inode with its blocks, xattrs and entries, keeping the superblock counters right.
local function purge(ino)
  before_change(ino)
  local k = ikey(ino)
  local f = redis.call('HMGET', k, 'mode', 'size')
  local mode = tonumber(f[1] or '0')
  local size = tonumber(f[2] or '0')
  if is_reg(mode) then
    local stored = drop_entries(ino, 0)
    redis.call('HINCRBY', SB, 'logical_bytes', int(-size))
    redis.call('HINCRBY', SB, 'stored_bytes', int(-stored))
  end
  redis.call('DEL', k, xkey(ino), dkey(ino), kkey(ino))
  redis.call('SREM', ORPHANS, ino)
  redis.call('HINCRBY', SB, 'inodes', -1)
end
-- Remove one name of a non-directory; keep it as an orphan while some handle has it open.
local function drop_link(ino, now)
  before_change(ino)
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
  before_change(ino)
  redis.call('HSET', ikey(ino), 'mtime', now, 'ctime', now)
end
