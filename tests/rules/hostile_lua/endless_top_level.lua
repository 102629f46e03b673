-- A rule file whose top level never ends, escaping the instruction budget
-- the ways it used to be escaped: pcall and a coroutine.
rspamd_config.LUA_CONTROL = function() return true end
while true do
  pcall(function() while true do end end)
  coroutine.wrap(function() while true do end end)()
end
