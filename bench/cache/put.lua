-- wrk script: each thread PUTs its own Turborepo artifact (key from setup), SIZE bytes.
-- Up to 64 KiB every request's body is unique (a counter in its first 16 bytes), so a
-- content-addressed store cannot skip the write as a duplicate; larger bodies are one
-- prebuilt request reused (building a 100 MiB string per request would make wrk the
-- bottleneck), which is fair because the cache streams those to disk before it knows
-- their hash.
local next_id = 0
function setup(thread)
  next_id = next_id + 1
  thread:set("id", next_id)
end

function init(args)
  size = tonumber(os.getenv("SIZE") or "1024")
  local block = ""
  for i = 0, 255 do block = block .. string.char((i * 7 + 13) % 256) end
  local function fill(n)
    return string.rep(block, math.floor(n / 256)) .. string.sub(block, 1, n % 256)
  end
  path = string.format("/v8/artifacts/%016x?slug=bench", 0xbe00 + id)
  headers = {
    ["Authorization"] = "Bearer bench",
    ["Content-Type"] = "application/octet-stream",
    ["x-artifact-duration"] = "100",
  }
  unique = size <= 65536 and size >= 16
  if unique then
    base = fill(size - 16)
    n = 0
  else
    req = wrk.format("PUT", path, headers, fill(size))
  end
end

function request()
  if unique then
    n = n + 1
    return wrk.format("PUT", path, headers, string.format("%08x%08x", id, n) .. base)
  end
  return req
end
