-- wrk script for the Vault-compatible workloads of bench/run (after ../shared/bench/vault.lua).
-- Configured through environment variables (set by bench/run):
--   BENCH_MODE   health | read | write | token | login | lease | list | policies
--   BENCH_TOKEN  X-Vault-Token (root for most modes; the 100-policy token for `policies`)
--   BENCH_KEYS   pre-populated keys secret/bench/k0..k{N-1} (read and policies pick one at random)
--   BENCH_RUN    unique run id; write creates secret/bench/w/<run>/<thread>-<n> (always a new key)
--   BENCH_VALUE_BYTES  size of the api_key string in write bodies (default 100)
--   BENCH_USER / BENCH_PASSWORD  userpass login (login mode)
--   BENCH_CREDENTIAL   credential name (lease mode)
-- done() prints one machine-readable line:
--   RESULT requests duration_s rps p50_ms p99_ms mean_ms max_ms err_connect err_read err_write err_status err_timeout

local mode     = os.getenv("BENCH_MODE") or "read"
local token    = os.getenv("BENCH_TOKEN") or ""
local nkeys    = tonumber(os.getenv("BENCH_KEYS") or "1000")
local run      = os.getenv("BENCH_RUN") or tostring(os.time())
local vbytes   = tonumber(os.getenv("BENCH_VALUE_BYTES") or "100")
local user     = os.getenv("BENCH_USER") or "bench"
local password = os.getenv("BENCH_PASSWORD") or ""
local cred     = os.getenv("BENCH_CREDENTIAL") or "bench-key"

local thread_count = 0
function setup(thread)
  thread:set("tid", thread_count)
  thread_count = thread_count + 1
end

local base = "/v1/secret/data/bench"
local body = '{"data":{"api_key":"' .. string.rep("x", vbytes) .. '"}}'
local counter = 0

local function json_post(path, payload)
  wrk.method = "POST"
  wrk.path = path
  wrk.body = payload
  wrk.headers["Content-Type"] = "application/json"
end

if mode == "health" then
  wrk.method = "GET"
  wrk.path = "/v1/sys/health"
elseif mode == "read" or mode == "policies" then
  wrk.headers["X-Vault-Token"] = token
  request = function()
    return wrk.format("GET", base .. "/k" .. math.random(0, nkeys - 1))
  end
elseif mode == "write" then
  wrk.headers["X-Vault-Token"] = token
  wrk.headers["Content-Type"] = "application/json"
  request = function()
    counter = counter + 1
    return wrk.format("POST", base .. "/w/" .. run .. "/" .. tostring(tid) .. "-" .. counter, nil, body)
  end
elseif mode == "token" then
  wrk.headers["X-Vault-Token"] = token
  json_post("/v1/auth/token/create", '{"policies":["default"],"ttl":"1h"}')
elseif mode == "login" then
  json_post("/v1/auth/userpass/login/" .. user, '{"password":"' .. password .. '"}')
elseif mode == "lease" then
  wrk.headers["X-Vault-Token"] = token
  json_post("/v1/credentials/" .. cred .. "/lease",
    '{"ttl":"1h","identity":{"type":"agent","name":"bench-agent","purpose":"benchmark"}}')
elseif mode == "list" then
  wrk.headers["X-Vault-Token"] = token
  -- Vault's LIST verb as `?list=true` (wrk's request check rejects unknown methods).
  wrk.method = "GET"
  wrk.path = "/v1/secret/metadata/list10k/?list=true"
else
  error("unknown BENCH_MODE " .. mode)
end

function init(args)
  math.randomseed(os.time() * 1000 + (tid or 0) * 7919)
end

function done(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format("RESULT %d %.3f %.1f %.3f %.3f %.3f %.3f %d %d %d %d %d\n",
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    latency.mean / 1000, latency.max / 1000,
    e.connect, e.read, e.write, e.status, e.timeout))
end
