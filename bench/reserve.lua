-- wrk script for `POST /v1/reservations` on one hot SKU: every request has its own
-- idempotency key. Set KEY (the bearer secret) and SKU in the environment.
local counter = 0
local thread_id = 0
local threads = {}

function setup(thread)
  thread:set("id", thread_id)
  thread_id = thread_id + 1
  table.insert(threads, thread)
end

function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("KEY")
  sku = os.getenv("SKU") or "HOT-0000"
  prefix = tostring(os.time()) .. "-" .. tostring(id) .. "-"
end

function request()
  counter = counter + 1
  local body = '{"idempotency_key":"' .. prefix .. counter ..
    '","ttl_seconds":3600,"lines":[{"sku":"' .. sku .. '","warehouse":"W1","qty":1}]}'
  return wrk.format(nil, "/v1/reservations", nil, body)
end
