-- The cheapest possible Lua rule: the per-message cost of calling into Lua.
rspamd_config.LUA_TRIVIAL = function() return false end
