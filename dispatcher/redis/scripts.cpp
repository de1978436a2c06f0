// The Lua scripts (see scripts.hpp for the keys), one Redis Functions
// library. Every script gets the key prefix as ARGV[1]; the others are
// positional, named at each script's top. Times are wall-clock milliseconds
// sent by the caller; idleness for XAUTOCLAIM is the server's own.
#include <dispatcher/redis/scripts.hpp>

#include <cstdint>
#include <cstdio>

namespace csp::redis {

namespace {

// Helpers every script shares: run once when the library is loaded, not on
// every call (as EVAL's would be: ~16k instructions a call). Each call sets
// P and deltas first (library(): the upvalues outlive a call).
const char* const prelude = R"lua(
local P
local GROUP = 'workers'
local final = {succeeded = true, failed = true, cancelled = true, timed_out = true}
local priorities = {high = true, normal = true, low = true}
local read_order = {'high', 'normal', 'low'}

-- A whole number as text. Lua's own number-to-text (tostring, '..', a
-- number passed to redis.call) goes through a floating-point printf that
-- costs more than the rest of a delivery's Lua: callers keep numbers as
-- the text they came in as, or convert with this.
local function int(n) return string.format('%d', n) end

local function rec(id) return P .. 't:' .. id end
local function stream(prio) return P .. 's:' .. prio end

-- The counts by state follow every change of a record's state (the caller
-- writes the new state into the record, with its other fields in one HSET).
-- A script that changes many records sets deltas = {} first and calls
-- flush_counts() before it returns: one HINCRBY per state, not per change.
local deltas
local function recount(from, to)
  if deltas then
    if from then deltas[from] = (deltas[from] or 0) - 1 end
    deltas[to] = (deltas[to] or 0) + 1
    return
  end
  if from then redis.call('HINCRBY', P .. 'counts', from, '-1') end
  redis.call('HINCRBY', P .. 'counts', to, '1')
end
local function flush_counts()
  for st, d in pairs(deltas) do
    if d ~= 0 then redis.call('HINCRBY', P .. 'counts', st, int(d)) end
  end
  deltas = {}
end

-- "<priority> <entry id>[ <attempt>]" -> stream key, entry id
local function split_receipt(r)
  local prio, eid = string.match(r or '', '^(%a+) (%d+%-%d+)')
  if not prio or not priorities[prio] then return nil end
  return stream(prio), eid
end

-- Acknowledged entries stay in the stream until trim() drops them (an XDEL
-- per entry costs the server more than the rest of a delivery's commands).
local function ack(s, eid) redis.call('XACK', s, GROUP, eid) end

-- Drops the entries of stream s the group no longer needs: those before the
-- oldest pending one (a reclaim needs a pending entry) and before the first
-- one not yet read (ids above the group's last-delivered-id). MINID never
-- drops an entry at or above the id, and with '~' only whole nodes go: cheap,
-- and it errs on the side of keeping. Never MAXLEN: it drops by count.
local function trim(s)
  -- pcall: a stream gone (keys flushed) has nothing to trim, and an error
  -- here must not fail the completions stored before it
  local groups = redis.pcall('XINFO', 'GROUPS', s)
  if type(groups) ~= 'table' or groups.err then return end
  local minid
  for _, g in ipairs(groups) do
    local f = {}
    for i = 1, #g, 2 do f[g[i]] = g[i + 1] end
    if f['name'] == GROUP then minid = f['last-delivered-id'] end
  end
  if not minid then return end
  local p = redis.call('XPENDING', s, GROUP)  -- {count, lowest id, highest id, consumers}
  if p[1] > 0 then minid = p[2] end  -- a pending id is at or below last-delivered-id
  redis.call('XTRIM', s, 'MINID', '~', minid)
end

-- the final state; frees the unique key (u: the record's, if the caller has
-- read it, else nil); failures go to the dead letters
local function finish(rk, id, from, to, now, result, err, u, ...)
  recount(from, to)
  -- owner, entry and receipt keep their last values: they mean something
  -- only while the task is queued or running (record_codec reads no owner
  -- from a task not running), and each field written costs a scan
  redis.call('HSET', rk, 'state', to, 'finished', now, 'result', result, 'error', err, ...)
  if u == nil then u = redis.call('HGET', rk, 'unique_key') end
  if u and u ~= '' and redis.call('GET', P .. 'u:' .. u) == tostring(id) then redis.call('DEL', P .. 'u:' .. u) end
  if to == 'failed' or to == 'timed_out' then
    redis.call('XADD', P .. 'dlq', '*', 'id', tostring(id), 'error', err)
  end
end

local function valid_count(v) local n = tonumber(v); return n and n >= 0 and n == math.floor(n) end

-- The task id an entry's fields {'id', <id>} name, or nil.
local function entry_task(fields)
  if type(fields) ~= 'table' then return nil end
  for i = 1, #fields, 2 do if fields[i] == 'id' then return fields[i + 1] end end
end

-- Hands stream entry eid of stream (priority prio), naming task id, to
-- consumer C as a new delivery; appends {id, spec, attempt, max_attempts,
-- receipt} to out. The receipt, "<priority> <entry id>
-- <attempt>", names this delivery: a reclaimed entry keeps its id, so the
-- attempt tells a stale delivery from the live one (also of one consumer).
-- An entry that no longer stands for a deliverable task is acknowledged and
-- dropped; a record found malformed fails its task with the reason (the
-- other tasks go on).
local function deliver(prio, eid, id, C, now, max_deliveries, out)
  local s = stream(prio)
  local entry = prio .. ' ' .. eid
  if not id or not valid_count(id) then ack(s, eid); return end  -- names no task: nothing to fail
  local rk = rec(id)
  local h = redis.call('HMGET', rk, 'state', 'spec', 'attempts', 'max_attempts', 'cancel', 'entry')
  local state = h[1]
  if not state then
    -- the record is gone: a failed one says why
    redis.call('HSET', rk, 'spec', '', 'attempts', '0', 'max_attempts', '1', 'submitted', now)
    redis.call('ZADD', P .. 'all', id, id)
    finish(rk, id, nil, 'failed', now, '', 'corrupted task in Redis: its record (hash ' .. rk .. ') is missing')
    ack(s, eid); return
  end
  if final[state] or (state ~= 'queued' and state ~= 'running') or h[6] ~= entry then
    ack(s, eid); return  -- ended meanwhile (completed by its last owner, cancelled) or a stale entry
  end
  local why
  if not h[2] then why = 'no spec (type, timeout, payload)'
  elseif not valid_count(h[3]) then why = 'bad attempts ' .. tostring(h[3])
  elseif not valid_count(h[4]) or tonumber(h[4]) < 1 then why = 'bad max_attempts ' .. tostring(h[4])
  end  -- the spec's own checks (its form, the payload being JSON) are the client's: record_codec.cpp
  if why then
    finish(rk, id, state, 'failed', now, '', 'corrupted task in Redis: ' .. why)
    ack(s, eid); return
  end
  local attempts, max_attempts = tonumber(h[3]), tonumber(h[4])
  local note = {}
  if state == 'running' then
    -- reclaimed: its last delivery's process died or hung past the visibility
    -- timeout (backend_rules.hpp: lease_expired_to_store, lease_expired_error)
    local why = 'lease expired during attempt ' .. attempts .. ' (its process died or stopped renewing it)'
    if h[5] == '1' then
      finish(rk, id, state, 'cancelled', now, '', 'cancelled; ' .. why)
      ack(s, eid); return
    end
    if attempts >= max_attempts or attempts >= max_deliveries then
      finish(rk, id, state, 'failed', now, '', why .. '; no attempts left')
      ack(s, eid); return
    end
    note = {'error', why .. '; queued again'}
  end
  local attempt = int(attempts + 1)
  local receipt = entry .. ' ' .. attempt
  recount(state, 'running')
  redis.call('HSET', rk, 'state', 'running', 'attempts', attempt, 'owner', C, 'started', now, 'receipt', receipt,
    unpack(note))
  out[#out + 1] = {id, h[2], attempt, h[4], receipt}
end
)lua";

script make(const char* name, const char* body) { return script{name, body}; }

std::uint64_t fnv1a(const std::string& s, std::uint64_t h = 1469598103934665603ull) {
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
    return h;
}

struct library_code {
    std::string name, text;
};

// "#!lua name=csp_<hash of the code>": a library of another version of
// this code (a rolling upgrade: processes of both versions on one queue)
// has other names, so neither replaces the functions the other calls.
const library_code& library() {
    static const library_code lib = [] {
        std::uint64_t h = fnv1a(prelude);
        for (const script* s : all_scripts()) h = fnv1a(s->text, fnv1a(s->name, h));
        char hex[17];
        std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
        library_code l;
        l.name = std::string("csp_") + hex;
        l.text = "#!lua name=" + l.name + "\n" + prelude;
        for (const script* s : all_scripts())
            l.text += "redis.register_function('" + l.name + "_" + s->name +
                      "', function(_, ARGV)\nP, deltas = ARGV[1], nil\n" + s->text + "\nend)\n";
        return l;
    }();
    return lib;
}

}  // namespace

const std::string& library_text() { return library().text; }

std::string function_name(const script& s) { return library().name + "_" + s.name; }

std::vector<const script*> all_scripts() {
    return {&enqueue_script(), &claim_script(), &deliver_script(), &complete_script(),
            &heartbeat_script(), &cancel_script(), &list_script()};
}

// ARGV: P, spec (record_codec.hpp: type, timeout, payload), priority,
// max_attempts, not_before, now, unique_key, unique_ttl_s. Returns {id,
// existed (0/1)}.
const script& enqueue_script() {
    static const script s = make("enqueue", R"lua(
local spec, prio, max_attempts = ARGV[2], ARGV[3], ARGV[4]
local not_before, now, ukey, uttl = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
if not priorities[prio] then return redis.error_reply('enqueue: bad priority ' .. prio) end
if ukey ~= '' then
  local held = redis.call('GET', P .. 'u:' .. ukey)
  if held then
    local st = redis.call('HGET', rec(held), 'state')
    if st and not final[st] then return {held, 1} end
  end
end
local id = int(redis.call('INCR', P .. 'id'))
local rk = rec(id)
local state, entry = 'scheduled', ''
if tonumber(not_before) > tonumber(now) then
  redis.call('ZADD', P .. 'delayed', not_before, id)
else
  state, entry = 'queued', prio .. ' ' .. redis.call('XADD', stream(prio), '*', 'id', id)
end
recount(nil, state)
-- Every field at once, in this order: the record is a small hash (a
-- listpack), where finding a field scans from the front, so the fields the
-- claim, complete and heartbeat scripts read come first; and none is added
-- later (a new field scans the whole hash first).
redis.call('HSET', rk, 'state', state, 'attempts', '0', 'max_attempts', max_attempts, 'cancel', '0', 'owner', '',
  'receipt', '', 'entry', entry, 'done_by', '', 'unique_key', ukey, 'spec', spec, 'started', '0', 'finished', '0',
  'result', '', 'error', '', 'submitted', now, 'priority', prio, 'not_before', not_before)
redis.call('ZADD', P .. 'all', id, id)
-- the script is atomic, so the check above and this SET act as one SET NX;
-- a key left by a task that ended (or lost its record) is overwritten
if ukey ~= '' then redis.call('SET', P .. 'u:' .. ukey, id, 'EX', uttl) end
return {id, 0}
)lua");
    return s;
}

// ARGV: P, consumer, now, n, max_deliveries, reclaim (0/1), min_idle_ms,
// cursor_high, cursor_normal, cursor_low. Moves due scheduled and retrying
// tasks to their streams, reclaims idle entries if asked, then reads new
// entries, high priority first: up to n deliveries.
// Returns {deliveries, {cursors}, next due time or ''}.
const script& claim_script() {
    static const script s = make("claim", R"lua(
local C, now, n, max_deliveries = ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local reclaim, min_idle = ARGV[6] == '1', ARGV[7]
local cursors = {ARGV[8], ARGV[9], ARGV[10]}
deltas = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'delayed', '-inf', now, 'LIMIT', 0, 500)) do
  redis.call('ZREM', P .. 'delayed', id)
  local rk = rec(id)
  local h = redis.call('HMGET', rk, 'state', 'priority')
  if h[1] == 'scheduled' or h[1] == 'retrying' then
    local prio = priorities[h[2]] and h[2] or 'normal'
    local eid = redis.call('XADD', stream(prio), '*', 'id', id)
    recount(h[1], 'queued')
    redis.call('HSET', rk, 'state', 'queued', 'entry', prio .. ' ' .. eid)
  end
end
local out = {}
if reclaim then
  for i, prio in ipairs(read_order) do
    if #out >= n then break end
    local r = redis.call('XAUTOCLAIM', stream(prio), GROUP, C, min_idle, cursors[i], 'COUNT', int(n - #out))
    cursors[i] = r[1]
    for _, e in ipairs(r[2]) do deliver(prio, e[1], entry_task(e[2]), C, now, max_deliveries, out) end
  end
end
for _, prio in ipairs(read_order) do
  if #out >= n then break end
  local r = redis.call('XREADGROUP', 'GROUP', GROUP, C, 'COUNT', int(n - #out), 'STREAMS', stream(prio), '>')
  if r then
    for _, e in ipairs(r[1][2]) do deliver(prio, e[1], entry_task(e[2]), C, now, max_deliveries, out) end
  end
end
local due = redis.call('ZRANGE', P .. 'delayed', 0, 0, 'WITHSCORES')
flush_counts()
return {out, cursors, due[2] or ''}
)lua");
    return s;
}

// ARGV: P, consumer, now, max_deliveries, then triples (priority, entry id,
// task id or '') a blocking XREADGROUP of this consumer returned. Returns
// the deliveries. An entry deleted since (its task was cancelled while
// queued) is skipped by deliver(): its record is final.
const script& deliver_script() {
    static const script s = make("deliver", R"lua(
local C, now, max_deliveries = ARGV[2], ARGV[3], tonumber(ARGV[4])
local out = {}
deltas = {}
for i = 5, #ARGV, 3 do
  local id = ARGV[i + 2]
  deliver(ARGV[i], ARGV[i + 1], id ~= '' and id or nil, C, now, max_deliveries, out)
end
flush_counts()
return out
)lua");
    return s;
}

// ARGV: P, consumer, now, trim (1: trim the streams after), then per delivery six: id, receipt, state,
// result, error, retry_at ('' for none). Returns 1 or 0 per delivery:
// refuses (0) a delivery that is no longer this consumer's; otherwise stores
// the outcome, then acknowledges the entry (1); trimming drops it later. The rules of
// dispatcher/internal/backend_rules.hpp (outcome_to_store): a success is
// final; else a cancel request makes it cancelled; else a failure with
// retry_at and attempts left is retrying; else final as given. Idempotent:
// the same delivery's outcome again, in the same state (a retry after the
// reply was lost with the connection), answers 1 and changes nothing.
// Several deliveries per call: a process's concurrent completes share one
// round trip (redis_backend.cpp, complete()).
const script& complete_script() {
    static const script s = make("complete", R"lua(
local C, now = ARGV[2], ARGV[3]
deltas = {}
local acks = {}  -- stream -> entry ids: one XACK per stream
local function complete(id, receipt, state, result, err, retry_at)
  local rk = rec(id)
  local h = redis.call('HMGET', rk, 'state', 'owner', 'receipt', 'done_by', 'unique_key')
  local done_by = C .. ' ' .. receipt .. ' ' .. state .. ' ' .. retry_at
  if h[4] == done_by then return 1 end
  if h[1] ~= 'running' or h[2] ~= C or h[3] ~= receipt then return 0 end
  if not final[state] then return 0 end  -- complete() refuses it before: never stored
  -- a success needs no more fields (the common case: fewer to find and
  -- convert); any other outcome looks at the cancel flag and the attempts
  local f = state ~= 'succeeded' and redis.call('HMGET', rk, 'cancel', 'attempts', 'max_attempts') or {}
  if f[1] == '1' then
    finish(rk, id, 'running', 'cancelled', now, '', err ~= '' and err or 'cancelled', h[5] or '', 'done_by', done_by)
  elseif state ~= 'succeeded' and retry_at ~= '' and (tonumber(f[2]) or 0) < (tonumber(f[3]) or 1) then
    recount('running', 'retrying')
    redis.call('HSET', rk, 'state', 'retrying', 'error', err, 'not_before', retry_at, 'owner', '', 'entry', '',
      'receipt', '', 'done_by', done_by)
    redis.call('ZADD', P .. 'delayed', retry_at, id)
  else
    finish(rk, id, 'running', state, now, result, err, h[5] or '', 'done_by', done_by)
  end
  local s, eid = split_receipt(receipt)
  if s then
    acks[s] = acks[s] or {}
    table.insert(acks[s], eid)
  end
  return 1
end
local out = {}
for i = 5, #ARGV, 6 do
  out[#out + 1] = complete(ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5])
end
for s, eids in pairs(acks) do redis.call('XACK', s, GROUP, unpack(eids)) end
flush_counts()
if ARGV[4] == '1' then
  for _, prio in ipairs(read_order) do trim(stream(prio)) end
end
return out
)lua");
    return s;
}

// ARGV: P, consumer, then pairs (id, receipt). Resets the idle time of each
// delivery still this consumer's (XCLAIM JUSTID: a live process keeps its
// tasks); returns the ids among them with a cancel request.
const script& heartbeat_script() {
    static const script s = make("heartbeat", R"lua(
local C = ARGV[2]
local cancels = {}
for i = 3, #ARGV, 2 do
  local id, receipt = ARGV[i], ARGV[i + 1]
  local h = redis.call('HMGET', rec(id), 'state', 'owner', 'receipt', 'cancel')
  local s, eid = split_receipt(receipt)
  -- only its own delivery: XCLAIM would take another consumer's entry as well
  if s and h[1] == 'running' and h[2] == C and h[3] == receipt then
    redis.call('XCLAIM', s, GROUP, C, 0, eid, 'JUSTID')
    if h[4] == '1' then cancels[#cancels + 1] = id end
  end
end
return cancels
)lua");
    return s;
}

// ARGV: P, id, now. Returns 'none', 'cancelled', 'cancelling',
// 'already_cancelled' or 'already_final'.
const script& cancel_script() {
    static const script s = make("cancel", R"lua(
local id, now = ARGV[2], ARGV[3]
local rk = rec(id)
local h = redis.call('HMGET', rk, 'state', 'entry', 'owner', 'cancel')
local state = h[1]
if not state then return 'none' end
if state == 'cancelled' then return 'already_cancelled' end
if final[state] then return 'already_final' end
if state == 'running' then
  if h[4] == '1' then return 'already_cancelled' end
  redis.call('HSET', rk, 'cancel', '1')
  redis.call('PUBLISH', P .. 'cancel', id .. ' ' .. h[3])
  return 'cancelling'
end
if state == 'queued' then
  -- a reader that already fetched the entry finds it deleted and skips it
  local s, eid = split_receipt(h[2])
  if s then redis.call('XDEL', s, eid) end
else
  redis.call('ZREM', P .. 'delayed', id)
end
finish(rk, id, state, 'cancelled', now, '', 'cancelled before it ran')
return 'cancelled'
)lua");
    return s;
}

// ARGV: P, limit, state ('' for any). Returns {id, HGETALL...} per task,
// newest first.
const script& list_script() {
    static const script s = make("list", R"lua(
local limit, want = tonumber(ARGV[2]), ARGV[3]
local out = {}
local from = 0
while #out < limit do
  local ids = redis.call('ZREVRANGE', P .. 'all', from, from + 199)
  if #ids == 0 then break end
  for _, id in ipairs(ids) do
    if #out >= limit then break end
    if want == '' or redis.call('HGET', rec(id), 'state') == want then
      out[#out + 1] = {id, redis.call('HGETALL', rec(id))}
    end
  end
  from = from + 200
end
return out
)lua");
    return s;
}

}  // namespace csp::redis
