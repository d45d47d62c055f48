-- GET /api/v1/sessions/{id} over random ids read from the file KB_IDS (one a line).
local common = dofile(os.getenv("KB_LUA_DIR") .. "/common.lua")

local headers = { ["Authorization"] = common.env("KB_AUTH") }
local ids = nil

setup = common.setup

function init(args)
  ids = common.read_lines(common.env("KB_IDS"))
  if #ids == 0 then error("no session ids in " .. common.env("KB_IDS")) end
  math.randomseed(os.time() * 1000 + (thread_no or 0) * 7919)
end

function request()
  local id = ids[math.random(#ids)]
  return wrk.format("GET", "/api/v1/sessions/" .. id, headers, nil)
end

function response(status, headers, body)
  common.count(status, body)
end

done = common.done
