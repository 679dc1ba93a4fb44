-- admin_unban.lua — lift a client's ban now. Its tickets that left the
-- line at the ban stay left; it may take new ones.
-- ARGV[A]    client  the client key
-- ARGV[A+1]  why     the operator's reason, '' for none (admin_lib.lua)
-- ARGV[A+2]  op      the operation id
-- Reply      ok (ban: the ms that were left); not_banned
local client = ARGV[A]
local replay = admin_begin()
if replay then return replay end
local left = banned(client)
redis.call('ZREM', K.bans, client)
redis.call('DEL', bkey(client))
if left == 0 then return admin_reply('not_banned', 0) end
logged('y')
dirty = true
return admin_reply('ok', 0, {'ban', left})
