-- sluice's Lua prelude: the Rspamd-style registration API and the pure-Lua
-- helpers. Runs once in every fresh state before any rule file. Receives the
-- Rust-built modules and returns the registration list and the config
-- additions (regexp rules, composites, metric symbols) the loader reads.
local native = ...
local regs = {}
local registered = {}
local additions = { regexp = {}, composites = {}, metric = {} }

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

local function check_string(v, what, level)
  if type(v) ~= 'string' or v == '' then
    error(what .. ' must be a non-empty string', level + 1)
  end
end

local config_methods = {}
function config_methods.register_symbol(_, def)
  -- Not a tail call: the error level must still see the rule file's frame.
  local name = register(def, 3)
  return name
end

-- add_composite(name, expression): as a `composites {}` entry.
function config_methods.add_composite(_, name, expr)
  check_string(name, 'add_composite: name', 2)
  check_string(expr, 'add_composite: expression', 2)
  local c = additions.composites
  c[#c + 1] = { name = name, expression = expr }
  return true
end

-- set_metric_symbol{name=, score=, description=, group=} or
-- set_metric_symbol(name, score, description, group): as a `symbols {}` entry.
function config_methods.set_metric_symbol(_, name, score, description, group)
  local def = name
  if type(name) ~= 'table' then
    def = { name = name, score = score, description = description, group = group }
  end
  check_string(def.name, 'set_metric_symbol: name', 2)
  local weight = def.score or def.weight
  if weight ~= nil and type(weight) ~= 'number' then
    error('set_metric_symbol: score must be a number for ' .. def.name, 2)
  end
  local m = additions.metric
  m[#m + 1] = { name = def.name, score = weight, description = def.description, group = def.group }
end

-- config['regexp']['SYM'] = { re = '...', score = N, ... }: a regexp rule.
local regexp_rules = {}
config = {
  regexp = setmetatable({}, {
    __index = regexp_rules,
    __newindex = function(_, name, def)
      check_string(name, "config['regexp'] key", 2)
      if type(def) ~= 'table' or type(def.re) ~= 'string' then
        error("config['regexp']['" .. name .. "']: `re` must be a string (functions are not supported)", 2)
      end
      if def.score ~= nil and type(def.score) ~= 'number' then
        error("config['regexp']['" .. name .. "']: `score` must be a number", 2)
      end
      regexp_rules[name] = def
      local r = additions.regexp
      r[#r + 1] = {
        name = name, re = def.re, score = def.score, description = def.description,
        group = def.group, one_shot = def.one_shot == true,
      }
    end,
  }),
}

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

-- Text parts, MIME parts, URLs and e-mails are plain tables sharing one
-- method table per kind, so a rule can call part:get_content() exactly as
-- in Rspamd. A text part holds its index and length; its content, words,
-- stats and language are fetched from the scan on first use and kept.
local dispatch
local part_mt = { __index = {
  get_content = function(self)
    local c = self._content
    if c == nil then
      c = dispatch('_part_content', self._i) or ''
      self._content = c
    end
    return c
  end,
  is_html = function(self) return self._html end,
  get_length = function(self) return self._len end,
  get_words = function(self, how)
    local raw = how == 'raw'
    local key = raw and '_raw_words' or '_words'
    local w = self[key]
    if w == nil then
      w = dispatch('_part_words', self._i, not raw) or {}
      self[key] = w
    end
    return w
  end,
  get_words_count = function(self)
    local w = self._words or self._raw_words
    if w then return #w end
    local n = self._nwords
    if n == nil then
      n = dispatch('_part_words_count', self._i)
      self._nwords = n
    end
    return n
  end,
  get_stats = function(self)
    local st = self._stats
    if st == nil then
      local l, el, sp, nsp, dsp, ascii, nascii, caps, num, letters =
        dispatch('_part_stats', self._i)
      st = {
        lines = l, empty_lines = el, spaces = sp, non_spaces = nsp, double_spaces = dsp,
        ascii_characters = ascii, non_ascii_characters = nascii,
        capital_letters = caps, numeric_characters = num, letters = letters,
      }
      self._stats = st
    end
    return st
  end,
  get_language = function(self)
    if self._lang == nil then
      self._lang = dispatch('_part_language', self._i) or false
    end
    return self._lang or nil
  end,
} }
-- MIME parts (get_parts): every part, containers and attachments included.
local mime_mt = { __index = {
  get_type = function(self) return self._type, self._subtype end,
  get_type_full = function(self) return self._type .. '/' .. self._subtype end,
  get_filename = function(self) return self._filename end,
  get_length = function(self) return self._length end,
  get_cte = function(self) return self._cte end,
  is_attachment = function(self) return self._attachment end,
  is_multipart = function(self) return self._type == 'multipart' end,
  is_message = function(self) return self._type == 'message' end,
  is_text = function(self) return self._type == 'text' and not self._attachment end,
  is_image = function(self) return self._type == 'image' end,
} }
-- The last two labels of a host (Rspamd uses the public suffix list).
local function tld_of(host)
  return string.match(host, '[^.]+%.[^.]+$') or host
end
-- E-mail addresses found in the text (get_emails).
local email_mt = { __index = {
  get_user = function(self) return self._user end,
  get_host = function(self) return self._host end,
  get_tld = function(self) return tld_of(self._host) end,
  get_text = function(self) return self._text end,
} }
-- A URL keeps only its text until a rule asks for a piece of it: most
-- rules look at few URLs, and messages can carry hundreds.
local function url_split(self)
  self._host, self._tld, self._path = native.split_url(self._text)
end
local url_mt = { __index = {
  get_host = function(self) if not self._host then url_split(self) end return self._host end,
  get_tld = function(self) if not self._host then url_split(self) end return self._tld end,
  get_path = function(self) if not self._host then url_split(self) end return self._path end,
  get_text = function(self) return self._text end,
} }

-- One string of newline-separated items, as a list.
local function lines_of(s)
  local out, from, n = {}, 1, 0
  if not s then return out end
  while true do
    local nl = string.find(s, '\n', from, true)
    n = n + 1
    out[n] = string.sub(s, from, (nl or 0) - 1)
    if not nl then return out end
    from = nl + 1
  end
end

-- Address lists arrive as one string of every addr, user, domain and name
-- back to back, then the byte length of each (four per address); nil when
-- there is none, as in Rspamd.
local function address_list(blob, ...)
  local n = select('#', ...)
  if n == 0 then return nil end
  local lens, out, from = { ... }, {}, 1
  local function cut(len)
    local s = string.sub(blob, from, from + len - 1)
    from = from + len
    return s
  end
  for i = 1, n / 4 do
    local k = 4 * (i - 1)
    local addr = cut(lens[k + 1])
    local user = cut(lens[k + 2])
    local domain = cut(lens[k + 3])
    out[i] = { addr = addr, user = user, domain = domain, name = cut(lens[k + 4]) }
  end
  return out
end
local parse_flat = native.util._parse_mail_address
native.util._parse_mail_address = nil
native.util.parse_mail_address = function(s)
  return address_list(parse_flat(s))
end

-- Builders of the per-message object lists, from the scan's flat answers.
local BUILD = {
  get_text_parts = function()
    local info, out = { dispatch('_text_parts') }, {}
    for i = 1, #info / 2 do
      out[i] = setmetatable({ _i = i, _len = info[2 * i - 1], _html = info[2 * i] }, part_mt)
    end
    return out
  end,
  get_parts = function()
    local info, out = { dispatch('_parts') }, {}
    for i = 1, #info / 5 do
      local k = 5 * (i - 1)
      local t, sub = string.match(info[k + 1], '^([^/]*)/?(.*)$')
      out[i] = setmetatable({
        _type = t, _subtype = sub, _filename = info[k + 2] or nil, _length = info[k + 3],
        _attachment = info[k + 4], _cte = info[k + 5] or nil,
      }, mime_mt)
    end
    return out
  end,
  get_urls = function()
    local out = lines_of(dispatch('_urls'))
    for i = 1, #out do out[i] = setmetatable({ _text = out[i] }, url_mt) end
    return out
  end,
  get_emails = function()
    local out = lines_of(dispatch('_emails'))
    for i = 1, #out do
      local addr = out[i]
      local user, host = string.match(addr, '^(.*)@([^@]*)$')
      out[i] = setmetatable({ _text = addr, _user = user or addr, _host = host or '' }, email_mt)
    end
    return out
  end,
}

-- The task: one table for the state's lifetime; its methods forward to the
-- dispatch function the scan installs for the duration of each message.
-- The object lists are built once per message and shared by every rule
-- that asks (Rspamd builds a new table per call). Names starting with `_`
-- are the builders' internal calls, not task methods.
local memo, header_memo, subject_memo = {}, {}, nil
local task_methods = {}
native.define_task = function(names)
  for _, m in ipairs(names) do
    if string.sub(m, 1, 1) ~= '_' then
      task_methods[m] = function(_, ...) return dispatch(m, ...) end
    end
  end
  -- Header values and the subject are strings made from Rust, a protected
  -- call each: kept for the message, as several rules ask for the same.
  task_methods.get_header = function(_, name, ...)
    if type(name) ~= 'string' then return dispatch('get_header', name, ...) end
    local v = header_memo[name]
    if v == nil then
      v = dispatch('get_header', name) or false
      header_memo[name] = v
    end
    return v or nil
  end
  task_methods.get_subject = function()
    local v = subject_memo
    if v == nil then
      v = dispatch('get_subject') or false
      subject_memo = v
    end
    return v or nil
  end
  task_methods.get_from = function(_, which) return address_list(dispatch('_from', which)) end
  task_methods.get_recipients = function(_, which)
    return address_list(dispatch('_recipients', which))
  end
  for m, build in pairs(BUILD) do
    task_methods[m] = function()
      local v = memo[m]
      if v == nil then
        v = build()
        memo[m] = v
      end
      return v
    end
  end
end
native.task = setmetatable({}, { __index = task_methods })
native.set_dispatch = function(f)
  dispatch = f
  memo, header_memo, subject_memo = {}, {}, nil
end

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
function lua_util.values(t)
  local out = {}
  for _, v in pairs(t) do out[#out + 1] = v end
  return out
end
function lua_util.nkeys(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n
end
function lua_util.shallowcopy(t)
  local out = {}
  for k, v in pairs(t) do out[k] = v end
  return out
end
local function deepcopy(v, seen)
  if type(v) ~= 'table' then return v end
  if seen[v] then return seen[v] end
  local out = {}
  seen[v] = out
  for k, x in pairs(v) do out[deepcopy(k, seen)] = deepcopy(x, seen) end
  return setmetatable(out, getmetatable(v))
end
function lua_util.deepcopy(t) return deepcopy(t, {}) end
-- template('hello $name', {name = 'x'}): `$key` and `${key}` from env.
function lua_util.template(s, env)
  return (string.gsub(s, '%$(%b{})', function(k) return tostring(env[string.sub(k, 2, -2)] or '') end)
    :gsub('%$([%w_]+)', function(k) return tostring(env[k] or '') end))
end
lua_util.unpack = unpack

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

return regs, additions
