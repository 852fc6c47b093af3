-- wrk script: each thread GETs the artifact put.lua's thread of the same number stored.
local next_id = 0
function setup(thread)
  next_id = next_id + 1
  thread:set("id", next_id)
end

function init(args)
  local path = string.format("/v8/artifacts/%016x?slug=bench", 0xbe00 + id)
  req = wrk.format("GET", path, { ["Authorization"] = "Bearer bench" })
end

function request()
  return req
end
