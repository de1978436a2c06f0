// Stress: many producers and consumers on one channel, every message counted
// (nothing lost, nothing duplicated, per-producer order kept).
#include "chan/mpmc.hpp"

#include <string>

namespace {

using namespace csp_test;

struct mpmc_case {
    mpmc_spec spec;
    std::uint32_t total;  // messages, before scaling
};

std::string case_name(const ::testing::TestParamInfo<mpmc_case>& info) {
    const mpmc_spec& s = info.param.spec;
    std::string who = s.producers_as == setting::goroutines ? "goroutines"
                      : s.producers_as == setting::threads  ? "threads"
                                                            : "mixed";
    return "cap" + std::to_string(s.capacity) + "_p" + std::to_string(s.producers) + "_c" +
           std::to_string(s.consumers) + "_" + who;
}

std::vector<mpmc_case> cases() {
    std::vector<mpmc_case> all;
    const std::pair<int, int> shapes[] = {{1, 1}, {4, 4}, {2, 8}, {8, 2}};
    for (std::size_t cap : {0u, 1u, 16u, 1024u}) {
        for (auto [p, c] : shapes) all.push_back({{cap, p, c, 0}, 500'000});
        all.push_back({{cap, 4, 4, 0, setting::mixed, setting::mixed}, 200'000});
        all.push_back({{cap, 2, 2, 0, setting::threads, setting::threads}, 50'000});
    }
    return all;
}

class Mpmc : public ::testing::TestWithParam<mpmc_case> {};
INSTANTIATE_TEST_SUITE_P(Stress, Mpmc, ::testing::ValuesIn(cases()), case_name);

TEST_P(Mpmc, EveryMessageArrivesExactlyOnce) {
    mpmc_spec s = GetParam().spec;
    s.per_producer = scaled<std::uint32_t>(GetParam().total / static_cast<std::uint32_t>(s.producers));
    run_in(setting::goroutines, [&] { run_mpmc(s); });
}

}  // namespace
