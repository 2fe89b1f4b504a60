-- wrk's script for run-matrix.py: POSTs one GraphQL request and compares every response, byte for
-- byte, with the expected one (a body whose data run-matrix.py has checked); anything else (another
-- status, a GraphQL error inside a 200, other data) is a failure, counted, and the first few kept.
--
--   WRK_REQUEST=request.json WRK_EXPECTED=expected.json wrk -t1 -c8 -d10s -s check.lua URL

local function slurp(name)
  local path = os.getenv(name) or error(name .. " is not set")
  local file = assert(io.open(path, "rb"))
  local text = file:read("*a")
  file:close()
  return text
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = slurp("WRK_REQUEST")

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(_)
  expected = slurp("WRK_EXPECTED")
  passed = 0
  failed = 0
  samples = ""
  kept = 0
end

function response(status, _, body)
  if status == 200 and body == expected then
    passed = passed + 1
    return
  end
  failed = failed + 1
  if kept < 3 then
    kept = kept + 1
    samples = samples .. "  HTTP " .. status .. ": " .. string.sub(body, 1, 300) .. "\n"
  end
end

function done(_, _, _)
  for _, thread in ipairs(threads) do
    io.write(string.format("checked: %d passed, %d failed\n", thread:get("passed"), thread:get("failed")))
    io.write(thread:get("samples"))
  end
end
