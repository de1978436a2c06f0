// Request parsing and field access for jobqueue (see protocol.hpp).
#include "protocol.hpp"

#include <string_view>

namespace jobqueue {

namespace {

/// True if `s` nests arrays/objects deeper than `limit` (strings skipped,
/// escapes honoured). Linear, no recursion: it runs before the parser.
bool nests_deeper_than(std::string_view s, int limit) {
    int depth = 0;
    bool in_string = false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        if (in_string) {
            if (c == '\\') ++i;
            else if (c == '"') in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > limit) return true;
        } else if (c == ']' || c == '}') {
            --depth;
        }
    }
    return false;
}

/// nlohmann's message without its "[json.exception...] " prefix, cut short
/// (it quotes the input read so far, which may be megabytes).
std::string short_message(const std::exception& e) {
    std::string m = e.what();
    if (m.rfind("[json.exception.", 0) == 0)
        if (const auto end = m.find("] "); end != std::string::npos) m.erase(0, end + 2);
    if (m.size() > 200) m = m.substr(0, 200) + "...";
    return m;
}

std::string field_name(const char* where, const char* key) { return std::string(where) + key; }

}  // namespace

json parse_request(const std::string& line) {
    json j = parse_value(line, max_depth);
    if (!j.is_object()) throw request_error("bad_request", "a request must be a JSON object");
    return j;
}

json parse_value(const std::string& line, int depth) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) throw request_error("bad_json", "empty line");
    // nlohmann's lexer takes a NUL for the end of input: `{...}\0junk` would pass.
    if (line.find('\0') != std::string::npos) throw request_error("bad_json", "a NUL byte in the line");
    if (nests_deeper_than(line, depth))
        throw request_error("bad_json", "nested deeper than " + std::to_string(depth) + " levels");
    json j;
    try {
        j = json::parse(line);
    } catch (const json::out_of_range& e) {
        throw request_error("bad_json", "number out of range: " + short_message(e));
    } catch (const json::exception& e) {
        throw request_error("bad_json", short_message(e));
    }
    return j;
}

std::int64_t get_int(const json& obj, const char* key, std::int64_t lo, std::int64_t hi,
                     std::optional<std::int64_t> fallback, const char* where) {
    const auto it = obj.find(key);
    if (it == obj.end()) {
        if (fallback) return *fallback;
        throw request_error("bad_request", "missing field " + field_name(where, key));
    }
    const std::string range = " must be an integer from " + std::to_string(lo) + " to " + std::to_string(hi);
    if (!it->is_number_integer()) throw request_error("bad_request", field_name(where, key) + range);
    if (it->is_number_unsigned()) {
        const auto u = it->get<std::uint64_t>();
        if (u > static_cast<std::uint64_t>(hi) || static_cast<std::int64_t>(u) < lo) throw request_error("bad_request", field_name(where, key) + range);
        return static_cast<std::int64_t>(u);
    }
    const auto v = it->get<std::int64_t>();
    if (v < lo || v > hi) throw request_error("bad_request", field_name(where, key) + range);
    return v;
}

std::string get_string(const json& obj, const char* key, std::optional<std::string> fallback, const char* where) {
    const auto it = obj.find(key);
    if (it == obj.end()) {
        if (fallback) return *fallback;
        throw request_error("bad_request", "missing field " + field_name(where, key));
    }
    if (!it->is_string()) throw request_error("bad_request", field_name(where, key) + " must be a string");
    return it->get<std::string>();
}

json get_object(const json& obj, const char* key) {
    const auto it = obj.find(key);
    if (it == obj.end()) return json::object();
    if (!it->is_object()) throw request_error("bad_request", std::string(key) + " must be an object");
    return *it;
}

json ok_answer(const json& request) {
    json a = json::object();
    if (request.is_object())
        if (const auto it = request.find("id"); it != request.end()) a["id"] = *it;
    a["ok"] = true;
    return a;
}

json error_answer(const json& request, const std::string& code, const std::string& message) {
    json a = ok_answer(request);
    a["ok"] = false;
    a["error"] = {{"code", code}, {"message", message}};
    return a;
}

std::string to_line(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

}  // namespace jobqueue
