-- A sender-supplied X-Spam header must not survive: the milter changes it
-- (CHGHEADER with an empty value = delete) while still accepting the mail.
dofile(dir .. "/common.lua")
test("spoofed X-Spam removed", function()
	local conn = open()
	envelope(conn, true)
	headers(conn, clean_headers({ { "X-Spam", "No" } }))
	body(conn, CLEAN_BODY)
	expect_accepted(conn, "spoofed")
	if not mt.eom_check(conn, MT_HDRCHANGE, "X-Spam") and not mt.eom_check(conn, MT_HDRDELETE, "X-Spam") then
		error("spoofed: incoming X-Spam header was not removed")
	end
	mt.disconnect(conn)
end)
