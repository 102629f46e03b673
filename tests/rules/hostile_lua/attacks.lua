-- Rules that attack the Lua sandbox: each must end within its budget and
-- lose only its own symbol; LUA_CONTROL, registered last, must still hit.
-- Every attack is a callback, so the file loads; the tests load it at start
-- and by SIGHUP.

local function spin() while true do end end

-- C stack overflow through a gsub callback.
local function g(x) return (string.gsub(x, '.', g)) end
rspamd_config.ATTACK_GSUB_RECURSION = function() return g('ab') ~= nil end

-- The same through a gsub replacement table's __index.
local idx
idx = setmetatable({}, { __index = function() return (string.gsub('ab', '.', idx)) end })
rspamd_config.ATTACK_GSUB_INDEX = function() return string.gsub('ab', '.', idx) ~= nil end

-- A sort comparator that sorts; __lt reached from table.sort.
local function s() table.sort({ 3, 2, 1 }, function(a, b) s() return a < b end) end
rspamd_config.ATTACK_SORT_RECURSION = function() s() return true end
local lt = {}
lt.__lt = function()
  table.sort({ setmetatable({}, lt), setmetatable({}, lt) })
  return false
end
rspamd_config.ATTACK_LT_RECURSION = function()
  table.sort({ setmetatable({}, lt), setmetatable({}, lt) })
  return true
end

-- __tostring reached from string.format, from print, and from tostring.
local fmt = setmetatable({}, { __tostring = function(t) return string.format('%s', t) end })
rspamd_config.ATTACK_FORMAT_TOSTRING = function() return string.format('%s', fmt) ~= nil end
local pr = setmetatable({}, { __tostring = print })
rspamd_config.ATTACK_PRINT_TOSTRING = function() print(pr) return true end
local ts = setmetatable({}, { __tostring = tostring })
rspamd_config.ATTACK_TOSTRING_LOOP = function() return tostring(ts) ~= nil end

-- Coroutines resuming coroutines; an error handler that recurses.
local function nest() coroutine.wrap(nest)() end
rspamd_config.ATTACK_COROUTINE_NEST = function() nest() return true end
local function h() return xpcall(error, h) end
rspamd_config.ATTACK_XPCALL_HANDLER = function() h() spin() end

-- Loops the instruction budget must stop, behind pcall, xpcall and coroutines.
rspamd_config.ATTACK_SPIN = function() spin() end
rspamd_config.ATTACK_PCALL_LOOP = function()
  while true do pcall(function() while true do end end) end
end
rspamd_config.ATTACK_NESTED_PCALL = function()
  while true do
    pcall(function() while true do pcall(spin) end end)
  end
end
rspamd_config.ATTACK_XPCALL_LOOP = function()
  while true do xpcall(spin, spin) end
end
rspamd_config.ATTACK_COROUTINE_LOOP = function() coroutine.wrap(spin)() end
rspamd_config.ATTACK_RESUME_LOOP = function()
  while true do coroutine.resume(coroutine.create(spin)) end
end
rspamd_config.ATTACK_YIELD_LOOP = function()
  local co = coroutine.wrap(function() while true do coroutine.yield() end end)
  while true do co() end
end
rspamd_config.ATTACK_ERROR_OBJECT = function()
  while true do pcall(error, setmetatable({}, { __tostring = spin })) end
end
rspamd_config.ATTACK_TASK_LOOP = function(task)
  while true do task:get_header('Subject') end
end

-- Memory and the Lua stack.
rspamd_config.ATTACK_MEMORY = function()
  local t = {}
  while true do t[#t + 1] = string.rep('x', 1024) .. #t end
end
rspamd_config.ATTACK_STRING_REP = function() return #string.rep('x', 2 ^ 30) > 0 end
local function deep() return 1 + deep() end
rspamd_config.ATTACK_LUA_RECURSION = function() return deep() > 0 end

rspamd_config.LUA_CONTROL = function() return true end
