#include <chan/selector.hpp>

namespace csp {

selector::~selector() {
    for (detail::chan_base* c : owned_)
        if (c) c->release();
}

std::size_t selector::add(std::unique_ptr<slot> s, detail::chan_base* ch, bool sending) {
    if (ch) ch->retain();
    owned_.push_back(ch);
    slots_.push_back(std::move(s));
    cases_.push_back(detail::select_case{ch, nullptr, sending, false});
    return cases_.size() - 1;
}

int selector::run(bool block, const std::chrono::steady_clock::time_point* deadline) {
    armed_.assign(cases_.begin(), cases_.end());
    for (std::size_t i = 0; i < armed_.size(); ++i) {
        detail::select_case& c = armed_[i];
        // A send case without a value (already sent) is off, like a nil channel.
        if (c.is_send && !slots_[i]->ready()) c.ch = nullptr;
        if (c.ch) c.data = slots_[i]->data();
        c.ok = false;
    }
    const int r = detail::select_impl(armed_.data(), static_cast<int>(armed_.size()), block, deadline);
    if (r >= 0) {
        cases_[r].ok = armed_[r].is_send || armed_[r].ok;
        if (armed_[r].is_send) slots_[r]->consumed();
    }
    return r;
}

}  // namespace csp
