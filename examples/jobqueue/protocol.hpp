// jobqueue's wire format: one JSON object per line each way. Parsing a
// request line (with the limits that keep hostile input harmless), reading
// typed fields with messages that name them, and writing answers.
//
//   json req = jobqueue::parse_request(line);           // throws request_error{"bad_json", ...}
//   auto ms = jobqueue::get_int(req, "timeout_ms", 0, jobqueue::max_ms);
//   out.send(jobqueue::to_line(jobqueue::ok_answer(req)));
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

namespace jobqueue {

using json = nlohmann::ordered_json;  // fields written in the order set: "id" first

/// A request the protocol refuses: `code` is one of bad_json, bad_request,
/// unknown_op, unknown_task, not_found, shutting_down.
struct request_error : std::runtime_error {
    request_error(std::string c, const std::string& message) : std::runtime_error(message), code(std::move(c)) {}
    std::string code;
};

/// Deepest nesting of arrays and objects a request may have. Values are
/// copied, compared and written recursively (on a goroutine's small stack),
/// so deeper input is refused before it is parsed.
inline constexpr int max_depth = 64;
/// Longest duration field (ms, timeout_ms, delay_ms, backoff_ms): one day.
inline constexpr std::int64_t max_ms = 86'400'000;

/// Parses one line. Throws request_error("bad_json") for anything that is
/// not JSON (invalid UTF-8, a NUL byte, a number out of range, nesting
/// deeper than max_depth) and request_error("bad_request") for JSON that is
/// not an object.
json parse_request(const std::string& line);
/// parse_request() for any JSON value (stored payloads and results),
/// nested at most `depth` levels.
json parse_value(const std::string& line, int depth);

/// Field `key` of `obj` as an integer in [lo, hi]; `fallback` if absent
/// (nullopt fallback: required). Throws bad_request naming `where + key`.
std::int64_t get_int(const json& obj, const char* key, std::int64_t lo, std::int64_t hi,
                     std::optional<std::int64_t> fallback = std::nullopt, const char* where = "");
/// Field `key` as a string; `fallback` if absent (nullopt: required).
std::string get_string(const json& obj, const char* key, std::optional<std::string> fallback = std::nullopt,
                       const char* where = "");
/// Field `key` as an object; an empty one if absent.
json get_object(const json& obj, const char* key);

/// {"id":..., "ok":true} (id only if the request had one).
json ok_answer(const json& request);
/// {"id":..., "ok":false, "error":{"code":..., "message":...}}.
json error_answer(const json& request, const std::string& code, const std::string& message);

/// One output line (no newline). Never throws: invalid UTF-8 in a string
/// (a parser message quoting the input) is replaced, not refused.
std::string to_line(const json& j);

}  // namespace jobqueue
