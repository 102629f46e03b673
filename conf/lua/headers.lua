-- sluice shipped Lua rules: From and Subject heuristics.
-- Written against the Rspamd Lua API subset of docs/lua-api.md. Weights
-- and descriptions can be changed in local.d/groups.conf (group "lua").
local rspamd_util = require "rspamd_util"

-- Top-level domains common enough in display names to tell a domain
-- ("PayPal.com") from initials or nicknames ("Craig R.Hughes").
local TLDS = {}
for _, t in ipairs({ 'com', 'net', 'org', 'info', 'biz', 'io', 'co', 'me', 'us', 'uk', 'de',
  'fr', 'ru', 'cn', 'jp', 'br', 'in', 'it', 'es', 'nl', 'pl', 'ca', 'au', 'ch', 'se' }) do
  TLDS[t] = true
end

-- Domain-looking words (`name.tld`) in a display name.
local function domains_in(s)
  local out = {}
  for d, tld in string.gmatch(string.lower(s), '([%w][%w%-]+%.([%a]+))%f[^%w]') do
    if TLDS[tld] then out[#out + 1] = d end
  end
  return out
end

-- The display name of the From header names a different domain than the
-- address ("PayPal.com <x@example.net>"): brand impersonation.
rspamd_config:register_symbol{
  name = 'FROM_NAME_OTHER_DOMAIN', score = 0.5, group = 'lua',
  description = 'From display name mentions another domain than the address',
  callback = function(task)
    local from = task:get_header('From')
    if not from or not string.find(from, '.', 1, true) then return false end
    local parsed = rspamd_util.parse_mail_address(from)
    local first = parsed and parsed[1]
    if not first or first.name == '' or first.domain == '' then return false end
    local own = rspamd_util.get_tld(first.domain)
    for _, d in ipairs(domains_in(first.name)) do
      if rspamd_util.get_tld(d) ~= own and not string.find(first.domain, d, 1, true) then
        return true, d
      end
    end
    return false
  end,
}

-- A Subject word mixing Latin letters with Cyrillic or Greek ones
-- ("Pаypal" with a Cyrillic "а"): homoglyph obfuscation.
rspamd_config:register_symbol{
  name = 'SUBJ_MIXED_SCRIPT', score = 2.0, group = 'lua',
  description = 'Subject word mixes Latin with Cyrillic or Greek letters',
  callback = function(task)
    local subject = task:get_subject()
    -- UTF-8 lead bytes of Greek (0xCE-0xCF) and Cyrillic (0xD0-0xD3).
    if not subject or not string.find(subject, '[\206-\211]') then return false end
    for word in string.gmatch(subject, '[%a\128-\255]+') do
      if string.find(word, '%a') and string.find(word, '[\206-\211][\128-\191]') then
        return true, word
      end
    end
    return false
  end,
}

local ROLE = {
  info = true, admin = true, sales = true, support = true, mail = true, news = true,
  contact = true, office = true, team = true, help = true, user = true, test = true,
}

-- The Subject quotes the recipient's mailbox name ("john, your account"):
-- personalised bulk mail. Mailing lists are left alone: their subject tag
-- ("[ilug]") names the list address.
rspamd_config:register_symbol{
  name = 'SUBJ_HAS_RCPT_NAME', score = 1.0, group = 'lua',
  description = 'Subject contains the recipient mailbox name',
  callback = function(task)
    local subject = task:get_subject()
    if not subject or task:get_header('List-Id') then return false end
    -- The envelope, else a To header naming one address (never parse a
    -- long list just to find it has more than one).
    local rcpts = task:get_recipients('smtp')
    if not rcpts then
      local to = task:get_header('To')
      if not to or string.find(to, ',', 1, true) then return false end
      rcpts = task:get_recipients('mime')
    end
    if not rcpts or #rcpts ~= 1 then return false end
    local user = string.lower(string.match(rcpts[1].user, '^[^+]*'))
    if #user < 4 or ROLE[user] or string.find(user, '[^%w._-]') then return false end
    local escaped = string.gsub(user, '[%.%-]', '%%%0')
    local untagged = string.gsub(string.lower(subject), '%b[]', '')
    if string.find(untagged, '%f[%w]' .. escaped .. '%f[^%w]') then
      return true, user
    end
    return false
  end,
}

-- A long visible recipient list: bulk mail sent without Bcc. Counting the
-- `@` signs of To and Cc is enough here and skips building an address
-- object for each of possibly thousands of recipients.
rspamd_config:register_symbol{
  name = 'RCPT_MANY_VISIBLE', score = 0.5, group = 'lua',
  description = 'Fifteen or more recipients in To and Cc',
  callback = function(task)
    local n = 0
    for _, h in ipairs({ 'To', 'Cc' }) do
      local v = task:get_header(h)
      if v then n = n + select(2, string.gsub(v, '@', '')) end
    end
    if n >= 15 then
      return true, tostring(n)
    end
    return false
  end,
}
