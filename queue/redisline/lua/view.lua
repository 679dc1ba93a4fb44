-- view.lua — is ticket seq's viewing session still open? (for its image)
-- ARGV[A]    seq  the ticket named by the image id
-- Reply      ok with the ticket (state '' when its record is gone)
local seq = ARGV[A]
advance()
return reply('ok', seq)
