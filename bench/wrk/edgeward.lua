-- wrk script for every Edgeward benchmark row. Configured through the environment:
--   BENCH_MODE   health | me | refresh | login | forgot | me_badsig | me_malformed
--                (me_badsig: the access tokens with one signature character changed, so the
--                signature is checked and fails; me_malformed: "Bearer not-a-token", refused
--                before any parsing. Both expect 401 invalid_token: they time the session
--                check's steps, see bench/README.md)
--   BENCH_DATA   file with one item per line: access tokens (me), refresh tokens (refresh),
--                e-mail addresses (login, forgot); unused for health
--   BENCH_PASSWORD  password of every bench user (login)
--   BENCH_THREADS   the -t given to wrk (to split BENCH_DATA between threads)
--   BENCH_OUT    file that done() writes one JSON line to (requests/s, p50, p99, errors)
--
-- Every response status is checked: anything outside 200-299 counts as an error, with a
-- histogram of the statuses and the first such body kept as a sample; so does a 2xx whose body
-- lacks what a good answer holds (expected_body). Socket errors and timeouts reported by wrk
-- are added to the same count.
--
-- refresh: refresh tokens are single-use, so each thread keeps a pool (a stack) of tokens,
-- one per connection, pops one for each request and pushes the successor parsed from a 200
-- response. wrk calls response() before the same connection asks request() for its next
-- request, so every token is sent exactly once, after its predecessor's answer: one chain per
-- connection. A failed refresh loses its chain (the pool shrinks); should the pool run dry,
-- the request goes out with an invalid token and is counted as an error. Every token sent and
-- every successor received is remembered, so a token sent twice or a successor seen twice
-- (which the reuse window would answer with 200) is counted as an error too.

local mode = os.getenv("BENCH_MODE") or "health"
local data_file = os.getenv("BENCH_DATA")
local password = os.getenv("BENCH_PASSWORD") or ""
local nthreads = tonumber(os.getenv("BENCH_THREADS") or "1")
local out_file = os.getenv("BENCH_OUT")

-- main state -------------------------------------------------------------------------------
local threads = {}
local next_tid = 0

function setup(thread)
  thread:set("tid", next_tid)
  next_tid = next_tid + 1
  table.insert(threads, thread)
end

-- thread state -----------------------------------------------------------------------------
items = {}        -- this thread's share of BENCH_DATA
cursor = 0        -- round-robin position (me, login, forgot)
non2xx = 0        -- responses outside 200-299
status_hist = ""  -- "401=3 500=2", rebuilt when it changes (copied out by done())
sample = ""       -- first non-2xx body seen by this thread
verified = false  -- refresh: wrk's start-up check of request() has happened
hist = {}         -- what -> count, behind status_hist
sent = {}         -- refresh: every token sent by this thread
pooled = {}       -- refresh: every successor put in the pool

local function json_escape(s)
  return (s:gsub('[%c"\\]', function(c)
    if c == '"' then return '\\"' elseif c == "\\" then return "\\\\" end
    return string.format("\\u%04x", c:byte())
  end))
end

function init(args)
  if data_file and data_file ~= "" then
    local i = 0
    for line in io.lines(data_file) do
      if line ~= "" then
        if i % nthreads == tid then table.insert(items, line) end
        i = i + 1
      end
    end
  end
  if mode ~= "health" and mode ~= "me_malformed" and #items == 0 then
    error("BENCH_DATA " .. tostring(data_file) .. " gave thread " .. tid .. " no items")
  end
end

local function next_item()
  cursor = cursor % #items + 1
  return items[cursor]
end

local json_headers = { ["Content-Type"] = "application/json" }

function request()
  if mode == "health" then
    return wrk.format("GET", "/health")
  elseif mode == "me" then
    return wrk.format("GET", "/v1/me", { ["Authorization"] = "Bearer " .. next_item() })
  elseif mode == "me_badsig" then
    -- The 10th character from the end of the signature changed: still base64url, same length.
    local t = next_item()
    local i = #t - 10
    local c = t:sub(i, i) == "A" and "B" or "A"
    return wrk.format("GET", "/v1/me", { ["Authorization"] = "Bearer " .. t:sub(1, i - 1) .. c .. t:sub(i + 1) })
  elseif mode == "me_malformed" then
    return wrk.format("GET", "/v1/me", { ["Authorization"] = "Bearer not-a-token" })
  elseif mode == "refresh" then
    -- wrk calls request() once on thread 0 before the run only to check the request parses
    -- (script_verify_request): give it a copy, so that no token is used up unsent.
    if tid == 0 and not verified then
      verified = true
      return wrk.format("POST", "/v1/auth/refresh", json_headers,
        '{"refresh_token":"' .. (items[#items] or "") .. '"}')
    end
    local token = table.remove(items) or "pool-exhausted"
    if sent[token] and token ~= "pool-exhausted" then note("token-sent-twice") end -- by construction, never
    sent[token] = true
    return wrk.format("POST", "/v1/auth/refresh", json_headers,
      '{"refresh_token":"' .. token .. '"}')
  elseif mode == "login" then
    return wrk.format("POST", "/v1/auth/login", json_headers,
      '{"email":"' .. next_item() .. '","password":"' .. password .. '"}')
  elseif mode == "forgot" then
    return wrk.format("POST", "/v1/auth/password/forgot", json_headers,
      '{"email":"' .. next_item() .. '"}')
  end
  error("unknown BENCH_MODE " .. mode)
end

-- What a good answer's body holds, per mode (refresh: checked below, token by token): a 2xx
-- without it is an error too, so a row of wrong answers cannot pass as fast.
expected_body = {
  health = '"status"%s*:%s*"ok"',
  me = '"email"%s*:%s*"[^"]+@',
  login = '"access_token"%s*:%s*"[^"]+"',
  forgot = '"status"%s*:%s*"accepted"',
}

-- Modes whose good answer is a refusal: status and problem code.
refusal = { me_badsig = 401, me_malformed = 401 }

function response(status, headers, body)
  if refusal[mode] then
    if status ~= refusal[mode] or not (body and body:match('"code"%s*:%s*"invalid_token"')) then
      note(status, body)
    end
    return
  end
  if status >= 200 and status <= 299 then
    local want = expected_body[mode]
    if want and not (body and body:match(want)) then
      note("2xx-unexpected-body", body)
      return
    end
    if mode == "refresh" then
      local successor = body and body:match('"refresh_token"%s*:%s*"([^"]+)"')
      if not successor then
        note("2xx-without-token", body) -- still breaks the chain
      elseif sent[successor] or pooled[successor] then
        -- The reuse window answers a repeated token with the same successor: seeing one
        -- twice would mean a token went out twice. Counted, and not pooled again.
        note("repeated-successor", body)
      else
        pooled[successor] = true
        table.insert(items, successor)
      end
    end
    return
  end
  note(status, body)
end

-- Counts one bad answer under `what` (a status or a label).
function note(what, body)
  non2xx = non2xx + 1
  hist[what] = (hist[what] or 0) + 1
  local parts = {}
  for k, v in pairs(hist) do table.insert(parts, tostring(k) .. "=" .. v) end
  table.sort(parts)
  status_hist = table.concat(parts, " ")
  if sample == "" then sample = (body or ""):sub(1, 300) end
end

-- main state, after the run ----------------------------------------------------------------
function done(summary, latency, requests)
  local bad, hists, samples = 0, {}, {}
  for _, t in ipairs(threads) do
    bad = bad + (t:get("non2xx") or 0)
    local h = t:get("status_hist")
    if h and h ~= "" then table.insert(hists, h) end
    local s = t:get("sample")
    if s and s ~= "" then table.insert(samples, s) end
  end
  local e = summary.errors
  local socket_errors = e.connect + e.read + e.write + e.timeout
  local secs = summary.duration / 1e6
  local line = string.format(
    '{"requests":%d,"duration_s":%.3f,"rps":%.1f,"p50_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f,' ..
    '"non2xx":%d,"socket_errors":%d,"timeouts":%d,"errors":%d,"statuses":"%s","sample":"%s"}',
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    bad, socket_errors, e.timeout, bad + socket_errors,
    json_escape(table.concat(hists, " ")), json_escape(samples[1] or ""))
  if out_file and out_file ~= "" then
    local f = assert(io.open(out_file, "w"))
    f:write(line, "\n")
    f:close()
  end
  io.write(line, "\n")
end
