-- view: is ticket seq's viewing session still open? (for its image URL)
-- ARGV[3] seq.
local seq = ARGV[3]
advance()
return reply('ok', seq)
