-- One token from a bucket, atomically (TRD FR-8 rate limits).
-- KEYS[1]: the bucket. ARGV[1]: capacity (requests). ARGV[2]: refill (requests per ms).
-- ARGV[3]: tokens to take (default 1); -1 gives one back (never beyond the capacity).
-- Tokens are kept x1000 as integers; time is the Redis server's, the same for every replica.
-- Returns {allowed (0|1), tokens left x1000, ms until the next token}.
local capacity = tonumber(ARGV[1]) * 1000
local refill = tonumber(ARGV[2]) * 1000
local cost = tonumber(ARGV[3] or '1') * 1000
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 't', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil then
  tokens = capacity
  at = now
end
tokens = math.min(capacity, tokens + math.max(0, now - at) * refill)
local allowed = 0
if cost < 0 then
  tokens = math.min(capacity, tokens - cost)
  allowed = 1
elseif tokens >= 1000 then
  tokens = tokens - cost
  allowed = 1
end
redis.call('HSET', KEYS[1], 't', math.floor(tokens), 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / refill) + 1000)
local wait = 0
if tokens < 1000 then
  wait = math.ceil((1000 - tokens) / refill)
end
return {allowed, math.floor(tokens), wait}
