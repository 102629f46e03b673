-- NR flags. Run with prot=all NR bits offered (nr_offered=yes) and with
-- none offered (nr_offered=no).
-- Offered: whatever the milter negotiates, miltertest reads no reply for
-- those steps; a reply sent anyway would be taken as the EOM verdict and the
-- X-Spamd-Result check would fail. Not offered: every step must be answered.
dofile(dir .. "/common.lua")
test("NR flags", function()
	local conn = open(tonumber(prot))
	-- The driver says whether NR bits were offered (simpler than bit tests).
	local offered = nr_offered == "yes"
	local negotiated = 0
	for _, f in ipairs({ SMFIP_NR_CONN, SMFIP_NR_HELO, SMFIP_NR_MAIL, SMFIP_NR_RCPT,
		SMFIP_NR_HDR, SMFIP_NR_EOH, SMFIP_NR_BODY }) do
		if mt.test_option(conn, f) then
			negotiated = negotiated + 1
		end
	end
	if not offered and negotiated > 0 then
		error("no-reply: milter negotiated NR flags that were not offered")
	end
	envelope(conn, true)
	headers(conn, clean_headers())
	body(conn, CLEAN_BODY)
	expect_accepted(conn, "no-reply")
	mt.abort(conn)
	envelope(conn, false)
	headers(conn, clean_headers())
	body(conn, GTUBE .. "\r\n")
	expect_gtube_reject(conn, "no-reply second message")
	mt.disconnect(conn)
	mt.echo("NR offered=" .. tostring(offered) .. " negotiated=" .. negotiated)
end)
