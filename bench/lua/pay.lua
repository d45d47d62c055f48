-- A checkout in two steps: create a session, then pay it with a test card.
--
-- wrk's Lua API has no per-connection state, so each thread keeps a queue: a create's
-- response puts its session id on the queue, and the next request any connection of the
-- thread sends pays the oldest queued session (or creates a new one when the queue is
-- empty). Every created session is paid exactly once; `completed` counts pay responses
-- whose session status is "completed".
local common = dofile(os.getenv("KB_LUA_DIR") .. "/common.lua")

local body = common.read_file(common.env("KB_BODY"))
local pay_body = common.read_file(common.env("KB_PAY_BODY"))
local prefix = common.env("KB_RUN")
local headers = {
  ["Authorization"] = common.env("KB_AUTH"),
  ["Content-Type"] = "application/json",
}
local queue, head, tail = {}, 1, 0
local counter = 0

setup = common.setup

function request()
  counter = counter + 1
  headers["X-KOMOJU-IDEMPOTENCY"] = prefix .. "-" .. tostring(thread_no) .. "-" .. counter
  if head <= tail then
    local id = queue[head]
    queue[head] = nil
    head = head + 1
    return wrk.format("POST", "/api/v1/sessions/" .. id .. "/pay", headers, pay_body)
  end
  return wrk.format("POST", "/api/v1/sessions", headers, body)
end

function response(status, headers, body)
  if not common.count(status, body) then return end
  if string.find(body, '"resource":"session"', 1, true) then
    local id = string.match(body, '"id":"(%w+)"')
    if id then
      tail = tail + 1
      queue[tail] = id
    end
  elseif string.sub(body, 1, 21) == '{"status":"completed"' then
    completed = completed + 1
  elseif first_error == "" then
    first_error = "pay did not complete: " .. string.sub(body, 1, 300)
  end
end

done = common.done
