-- A typical small rule: read a header, match a cached regexp.
local rspamd_regexp = require "rspamd_regexp"
local re = rspamd_regexp.create_cached('/\\b(?:viagra|cialis|lottery|winner)\\b/i')

rspamd_config:register_symbol{
  name = 'LUA_SUBJECT_RE', score = 1,
  callback = function(task)
    local subject = task:get_header('Subject')
    if subject and re:match(subject) then
      return true, subject
    end
    return false
  end,
}
