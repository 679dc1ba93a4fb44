-- leave.lua — the holder leaves the line; a serving holder ends the
-- session. Leaving twice is not an error.
-- ARGV[A]    client  the caller's client key
-- ARGV[A+1]  seq     the token's ticket
-- ARGV[A+2]  nonce   the token's nonce, hex
-- Reply      ok with the ticket; gone with the ticket (served or expired);
--            banned (ban); unknown
local client, seq, nonce = ARGV[A], ARGV[A + 1], ARGV[A + 2]
local state, early = holder(client, seq, nonce)
if not state then return early end
if state == 'waiting' or state == 'called' then
  remove_from_line(seq, state)
  finish(seq, 'left', state == 'called' and 'm' or 'l')
  call_next()
  return reply('ok', seq)
end
if state == 'serving' then
  end_session(seq)
  call_next()
  return reply('ok', seq)
end
if state == 'left' then return reply('ok', seq) end
return reply('gone', seq)
