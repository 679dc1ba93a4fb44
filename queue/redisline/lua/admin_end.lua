-- admin_end.lua — end ticket seq's viewing session now, as its holder
-- could; the counter frees and the next ticket is called.
-- ARGV[A]    seq  the ticket
-- ARGV[A+1]  why  the operator's reason, '' for none (admin_lib.lua)
-- ARGV[A+2]  op   the operation id
-- Reply      ok with the ticket; not_serving with the ticket; unknown
local seq = ARGV[A]
local replay = admin_begin()
if replay then return replay end
local state = redis.call('HGET', tkey(seq), F.state)
if not state then return admin_reply('unknown', 0) end
if state ~= 'serving' then return admin_reply('not_serving', seq) end
end_session(seq, 'e')
call_next()
return admin_reply('ok', seq)
