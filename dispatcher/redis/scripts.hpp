// The Lua scripts of the Redis backend: each state change of a task is one
// script, so the record (a hash), the counts by state, the streams, the
// pending entries of the consumer group and the retry set change together
// or not at all. Keys live under one prefix, "csp:{QUEUE}:" (the braces keep
// a queue's keys in one cluster slot):
//   id                INCR counter: task ids
//   t:<id>            the task's record (hash; fields in record_codec;
//                     type, timeout and payload in one field, 'spec')
//   all               sorted set of every id (list, newest first)
//   counts            hash: tasks per state (stats)
//   s:high s:normal s:low   one stream per priority, group "workers";
//                     an entry {id} per queued delivery, acknowledged
//                     when done; trimmed by MINID below the oldest entry
//                     still pending or unread (complete script, now and then)
//   delayed           sorted set: scheduled and retrying ids by due time (ms)
//   dlq               dead-letter stream: tasks failed after their last attempt
//   u:<key>           unique key -> id of the open task holding it (SET EX)
//   cancel            pub/sub channel: "<id> <consumer>" of a running task to cancel
//
// The scripts are one Redis Functions library (Redis 7): loaded once with
// FUNCTION LOAD REPLACE library_text(), called with FCALL function_name(s)
// 0 ARGV...; a server that lost it (restarted without persistence) answers
// "Function not found", and the caller loads it again.
#pragma once

#include <string>
#include <vector>

namespace csp::redis {

struct script {
    const char* name;
    std::string text;  // the function's body (the library's shared helpers are in scope)
};

/// The library holding every script ("#!lua name=...").
const std::string& library_text();
/// The name to FCALL script s by.
std::string function_name(const script& s);
std::vector<const script*> all_scripts();

const script& enqueue_script();
const script& claim_script();
const script& deliver_script();
const script& complete_script();
const script& heartbeat_script();
const script& cancel_script();
const script& list_script();

}  // namespace csp::redis
