// Kept for tests written against the old name: the harness is
// harness/harness.hpp (the same names, in namespace csp_test).
#pragma once

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "harness/harness.hpp"
