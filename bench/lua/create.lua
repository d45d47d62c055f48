-- POST a session-create body with a unique X-KOMOJU-IDEMPOTENCY key on every request.
-- KB_PATH picks the route: /api/v1/sessions (session create) or /bench/floor (HTTP floor).
local common = dofile(os.getenv("KB_LUA_DIR") .. "/common.lua")

local path = common.env("KB_PATH", "/api/v1/sessions")
local body = common.read_file(common.env("KB_BODY"))
local prefix = common.env("KB_RUN")
local headers = {
  ["Authorization"] = common.env("KB_AUTH"),
  ["Content-Type"] = "application/json",
}
local counter = 0

setup = common.setup

function request()
  counter = counter + 1
  headers["X-KOMOJU-IDEMPOTENCY"] = prefix .. "-" .. tostring(thread_no) .. "-" .. counter
  return wrk.format("POST", path, headers, body)
end

function response(status, headers, body)
  common.count(status, body)
end

done = common.done
