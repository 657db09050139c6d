-- Store whole encoded blocks and grow the size, atomically.
-- ARGV: P, ino, end_offset, now, n, then n attribute pairs applied after the data
-- (as setattr.lua: 'perm', 'uid', 'gid', 'atime', 'mtime'), then triples (block index,
-- expected sha1 of the stored block or '-' for no check, new stored bytes or '' for a hole).
-- Returns 0 (retry) when a block changed since the caller read it; otherwise
-- {mtime, size} before and {mtime, size} after (a mount tells its own changes from others').
do local refused = need_sb() if refused then return refused end end
local ino, endpos, now = ARGV[2], tonumber(ARGV[3]), ARGV[4]
local first = 6 + 2 * tonumber(ARGV[5])
local k = ikey(ino)
local f = redis.call('HMGET', k, 'mode', 'size', 'mtime')
if not f[1] then return fail('ENOENT') end
if is_dir(tonumber(f[1])) then return fail('EISDIR') end
if not is_reg(tonumber(f[1])) then return fail('EINVAL') end
for i = first, #ARGV, 3 do
  if ARGV[i + 1] ~= '-' and block_hash(ino, tonumber(ARGV[i])) ~= ARGV[i + 1] then return 0 end
end
local delta, count = 0, 0
for i = first, #ARGV, 3 do
  local b = bkey(ino, tonumber(ARGV[i]))
  delta = delta - redis.call('STRLEN', b)
  count = count - redis.call('EXISTS', b)
  if ARGV[i + 2] ~= '' then
    redis.call('SET', b, ARGV[i + 2])
    delta = delta + string.len(ARGV[i + 2])
    count = count + 1
  else
    redis.call('DEL', b)
  end
end
add_blocks(ino, count)
local size = tonumber(f[2] or '0')
if endpos > size then
  redis.call('HSET', k, 'size', int(endpos))
  redis.call('HINCRBY', SB, 'logical_bytes', int(endpos - size))
end
redis.call('HSET', k, 'mtime', now, 'ctime', now)
for i = 6, first - 1, 2 do
  local name, v = ARGV[i], ARGV[i + 1]
  if name == 'perm' then
    name = 'mode'
    v = int(bit.bor(bit.band(tonumber(f[1]), S_IFMT), bit.band(tonumber(v), 4095)))
  end
  redis.call('HSET', k, name, v)
end
if delta ~= 0 then redis.call('HINCRBY', SB, 'stored_bytes', int(delta)) end
return {f[3] or '0', int(size), redis.call('HGET', k, 'mtime'), int(math.max(size, endpos))}
