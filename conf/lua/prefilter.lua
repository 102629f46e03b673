-- sluice shipped Lua rules: a prefilter refusing executables disguised as
-- documents ("invoice.pdf.exe"). Such a file has no legitimate use, so the
-- message is rejected outright (set_pre_result) instead of scored.

local DOCUMENT = {
  pdf = true, doc = true, docx = true, xls = true, xlsx = true, ppt = true, rtf = true,
  txt = true, jpg = true, jpeg = true, png = true, gif = true, htm = true, html = true,
}
local EXECUTABLE = {
  exe = true, scr = true, pif = true, com = true, bat = true, cmd = true, js = true,
  jse = true, vbs = true, vbe = true, wsf = true, hta = true, jar = true, lnk = true,
  msi = true, ps1 = true,
}

rspamd_config:register_symbol{
  name = 'ATTACH_EXEC_DISGUISED', type = 'prefilter', score = 0, group = 'lua',
  description = 'Executable attachment named like a document (message refused)',
  callback = function(task)
    for _, p in ipairs(task:get_parts()) do
      local name = p:get_filename()
      if name then
        local doc, exe = string.match(string.lower(name), '%.(%w+)[%s%.]*%.(%w+)%s*$')
        if doc and DOCUMENT[doc] and EXECUTABLE[exe] then
          task:set_pre_result('reject', 'Executable attachment disguised as a document', 'sluice_lua')
          return true, name
        end
      end
    end
    return false
  end,
}
