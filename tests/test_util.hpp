// Kept for tests written against the old name: the harness is harness/harness.hpp.
#pragma once

#include "harness/harness.hpp"
