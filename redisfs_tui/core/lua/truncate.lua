-- Set a regular file's size; shrinking drops whole blocks and rewrites the partial last one.
-- ARGV: P, ino, new_size, now, expected sha1 of the partial block, its new stored bytes, has_tail
-- Returns 0 (retry) when the partial block changed since the caller read it; otherwise
-- {mtime, size} before and after.
do local refused = need_sb() if refused then return refused end end
local ino, newsize, now = ARGV[2], tonumber(ARGV[3]), ARGV[4]
local k = ikey(ino)
local f = redis.call('HMGET', k, 'mode', 'size', 'mtime')
if not f[1] then return fail('ENOENT') end
local mode = tonumber(f[1])
if is_dir(mode) then return fail('EISDIR') end
if not is_reg(mode) then return fail('EINVAL') end
local size = tonumber(f[2] or '0')
local bs = tonumber(redis.call('HGET', SB, 'block_size'))
local delta = 0
if newsize < size then
  if ARGV[7] == '1' then
    local idx = math.floor(newsize / bs)
    if block_hash(ino, idx) ~= ARGV[5] then return 0 end
    local b = bkey(ino, idx)
    delta = delta - redis.call('STRLEN', b)
    local had = redis.call('EXISTS', b)
    if ARGV[6] == '' then
      redis.call('DEL', b)
      add_blocks(ino, -had)
    else
      redis.call('SET', b, ARGV[6])
      delta = delta + string.len(ARGV[6])
      add_blocks(ino, 1 - had)
    end
  end
  delta = delta - drop_blocks(ino, math.ceil(newsize / bs), math.ceil(size / bs) - 1)
end
redis.call('HSET', k, 'size', int(newsize), 'mtime', now, 'ctime', now)
redis.call('HINCRBY', SB, 'logical_bytes', int(newsize - size))
if delta ~= 0 then redis.call('HINCRBY', SB, 'stored_bytes', int(delta)) end
return {f[3] or '0', int(size), now, int(newsize)}
