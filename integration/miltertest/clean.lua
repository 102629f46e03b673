-- A plain, clean message: accepted, X-Spamd-Result added, no X-Spam flag.
dofile(dir .. "/common.lua")
test("clean mail accepted with X-Spamd-Result", function()
	local conn = open()
	envelope(conn, true)
	headers(conn, clean_headers())
	body(conn, CLEAN_BODY)
	expect_accepted(conn, "clean")
	if mt.eom_check(conn, MT_HDRADD, "X-Spam", "Yes") then
		error("clean: X-Spam: Yes was added to a clean message")
	end
	mt.disconnect(conn)
end)
