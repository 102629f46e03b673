-- Folded headers (continuation joined by a bare LF, as Postfix sends them)
-- and values with extra leading blanks, offered with and without
-- SMFIP_HDR_LEADSPC (-D prot=...). The milter must still scan and answer,
-- remove the folded spoofed X-Spam, and write its own header the way the
-- negotiated flag requires: a leading space only when HDR_LEADSPC is on,
-- folding with LF + whitespace and never CR.
dofile(dir .. "/common.lua")
test("folded headers", function()
	local conn = open(tonumber(prot))
	local leadspc = mt.test_option(conn, LEADSPC)
	local sp = ""
	if leadspc then
		sp = " "
	end
	envelope(conn, true)
	headers(conn, clean_headers({
		{ "X-Folded", sp .. "first part\n\tsecond part\n  third part" },
		{ "X-Lead", sp .. "  three spaces" },
		{ "X-Tab", "\ttabbed" },
		{ "X-Empty", "" },
		{ "X-Spam", sp .. "Yes,\n\tfolded spoof" },
	}))
	body(conn, CLEAN_BODY)
	expect_accepted(conn, "folded")
	if not mt.eom_check(conn, MT_HDRCHANGE, "X-Spam") and not mt.eom_check(conn, MT_HDRDELETE, "X-Spam") then
		error("folded: folded X-Spam header was not removed")
	end
	local v = mt.getheader(conn, "X-Spamd-Result", 0)
	if v == nil then
		error("folded: cannot read the added X-Spamd-Result")
	end
	if string.find(v, "\r", 1, true) then
		error("folded: X-Spamd-Result contains CR: " .. string.format("%q", v))
	end
	if string.find(v, "\n[^ \t]") then
		error("folded: X-Spamd-Result continuation line without leading blank: " .. string.format("%q", v))
	end
	local starts_blank = string.sub(v, 1, 1) == " "
	if leadspc ~= starts_blank then
		error("folded: HDR_LEADSPC=" .. tostring(leadspc) .. " but value starts " .. string.format("%q", string.sub(v, 1, 8)))
	end
	mt.disconnect(conn)
	mt.echo("HDR_LEADSPC negotiated=" .. tostring(leadspc))
end)
