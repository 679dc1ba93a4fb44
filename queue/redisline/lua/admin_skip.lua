-- admin_skip.lua — a called ticket expires now as a no-show and the next
-- ticket is called on its counter.
-- ARGV[A]    seq  the ticket, or 0 for the ticket called longest ago (the
--                 earliest deadline: every call gets the same head window)
-- ARGV[A+1]  why  the operator's reason, '' for none (admin_lib.lua)
-- ARGV[A+2]  op   the operation id
-- Reply      ok with the ticket; not_called (with the ticket when one was
--            named); unknown
local seq = ARGV[A]
local replay = admin_begin()
if replay then return replay end
if seq == '0' then
  local first = redis.call('ZRANGE', K.called, 0, 0)
  if #first == 0 then return admin_reply('not_called', 0) end
  seq = first[1]
else
  local state = redis.call('HGET', tkey(seq), F.state)
  if not state then return admin_reply('unknown', 0) end
  if state ~= 'called' then return admin_reply('not_called', seq) end
end
remove_from_line(seq, 'called')
finish(seq, 'expired', 'k')
call_next()
return admin_reply('ok', seq)
