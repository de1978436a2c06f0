// The tests' one harness: include this (or the parts it lists).
//   settings.hpp    setting, run_in, task, task_group, SettingTest, CSP_INSTANTIATE_*
//   timing.hpp      patience, generous, on_time, stall_guard, yield_until, settle
//   blocked.hpp     wait_until_blocked: a waiter is parked, seen by the runtime
//   checks.hpp      counted, closed_chan, expect_uniform, expected_procs
//   child.hpp       expect_clean_exit_in_child, exit_after: tests in a child process
//   stress.hpp      CSP_STRESS_SCALE, the message report
//   proc_status.hpp resident memory
#pragma once

#include <chan/chan.hpp>
#include <chan/select.hpp>
#include <fiber/go.hpp>
#include <fiber/sleep.hpp>

#include "blocked.hpp"
#include "checks.hpp"
#include "child.hpp"
#include "proc_status.hpp"
#include "settings.hpp"
#include "timing.hpp"
