-- sluice's Lua prelude: the Rspamd-style registration API and the pure-Lua
-- helpers. Runs once in every fresh state before any rule file. Receives the
-- Rust-built modules and returns the registration list the loader reads.
local native = ...
local regs = {}
local registered = {}

local KNOWN_TYPES = {
  normal = true, callback = true, virtual = true,
  prefilter = true, postfilter = true,
}

local function register(def, level)
  if type(def) ~= 'table' then
    error('register_symbol expects a table', level)
  end
  local name = def.name
  if type(name) ~= 'string' or name == '' then
    error('register_symbol: `name` must be a non-empty string', level)
  end
  local kind = def.type or 'normal'
  -- Rspamd allows flags after a comma ("normal,nostat"); the first word is the type.
  kind = string.match(kind, '^%s*([%a_]+)') or kind
  if not KNOWN_TYPES[kind] then
    error('register_symbol: unknown type `' .. tostring(def.type) .. '` for ' .. name, level)
  end
  local cb = def.callback
  if kind ~= 'virtual' and type(cb) ~= 'function' then
    error('register_symbol: `callback` must be a function for ' .. name, level)
  end
  if def.score ~= nil and type(def.score) ~= 'number' then
    error('register_symbol: `score` must be a number for ' .. name, level)
  end
  if registered[name] then
    error('register_symbol: symbol ' .. name .. ' is registered twice', level)
  end
  registered[name] = true
  regs[#regs + 1] = {
    name = name,
    callback = cb,
    score = def.score,
    description = def.description,
    group = def.group,
    type = kind,
    parent = def.parent,
    priority = tonumber(def.priority) or 0,
  }
  return name
end

local config_methods = {}
function config_methods.register_symbol(_, def)
  -- Not a tail call: the error level must still see the rule file's frame.
  local name = register(def, 3)
  return name
end

rspamd_config = setmetatable({}, {
  __index = config_methods,
  __newindex = function(_, name, v)
    if type(v) == 'function' then
      v = { callback = v }
    end
    if type(v) ~= 'table' then
      error('rspamd_config.' .. tostring(name) .. ' must be a function or a table', 2)
    end
    v.name = name
    register(v, 3)
  end,
})

-- Text parts and URLs are plain tables sharing one method table each, so a
-- rule can call part:get_content() exactly as in Rspamd.
local part_mt = { __index = {
  get_content = function(self) return self._content end,
  is_html = function(self) return self._html end,
  get_length = function(self) return #self._content end,
} }
local url_mt = { __index = {
  get_host = function(self) return self._host end,
  get_tld = function(self) return self._tld end,
  get_path = function(self) return self._path end,
  get_text = function(self) return self._text end,
} }
native.mk_part = function(content, html)
  return setmetatable({ _content = content, _html = html }, part_mt)
end
native.mk_url = function(text, host, tld, path)
  return setmetatable({ _text = text, _host = host, _tld = tld, _path = path }, url_mt)
end

-- The task: one table for the state's lifetime; its methods forward to the
-- dispatch function the scan installs for the duration of each message.
local dispatch
local task_methods = {}
native.define_task = function(names)
  for _, m in ipairs(names) do
    task_methods[m] = function(_, ...) return dispatch(m, ...) end
  end
end
native.task = setmetatable({}, { __index = task_methods })
native.set_dispatch = function(f) dispatch = f end

-- rspamd_regexp.create_cached: one compiled object per pattern per state.
local re_cache = {}
local rspamd_regexp = {
  create = native.regexp_create,
  create_cached = function(re)
    local r = re_cache[re]
    if r == nil then
      r = native.regexp_create(re)
      if r == nil then return nil end
      re_cache[re] = r
    end
    return r
  end,
}

local lua_util = {}
function lua_util.str_split(s, sep)
  local out = {}
  for piece in string.gmatch(s, '([^' .. sep .. ']+)') do
    out[#out + 1] = piece
  end
  return out
end
function lua_util.str_trim(s)
  return (string.gsub(s, '^%s*(.-)%s*$', '%1'))
end
function lua_util.str_startswith(s, prefix)
  return string.sub(s, 1, #prefix) == prefix
end
function lua_util.str_endswith(s, suffix)
  return suffix == '' or string.sub(s, -#suffix) == suffix
end
function lua_util.keys(t)
  local out = {}
  for k in pairs(t) do out[#out + 1] = k end
  return out
end
function lua_util.list_to_hash(list)
  local out = {}
  for _, v in ipairs(list) do out[v] = true end
  return out
end
function lua_util.round(x, digits)
  local m = 10 ^ (digits or 0)
  return math.floor(x * m + 0.5) / m
end

local modules = {
  rspamd_logger = native.logger,
  rspamd_regexp = rspamd_regexp,
  rspamd_util = native.util,
  lua_util = lua_util,
}
rspamd_logger = native.logger
rspamd_regexp = rspamd_regexp
os = native.os

-- Only the built-in API modules can be required: no C modules, no files.
function require(name)
  local m = modules[name]
  if m == nil then
    error("module '" .. tostring(name) .. "' is not available (sluice loads no Lua or C modules from disk)", 2)
  end
  return m
end

return regs
