// SPDX-License-Identifier: BSL-1.0
// The C interface between the shared-library test's three modules: lib A (creates and resumes a
// fiber), lib B (yields from inside it), and the main program. Each module includes ebb itself and is
// built with -fvisibility=hidden, so the only symbols they share are these and ebb's process-wide ones.
#pragma once

#define EBB_TEST_EXPORT extern "C" __attribute__((visibility("default")))

// ---- lib B: code that runs on a fiber it did not create ----------------------------------------
// Checks it is on a fiber named `expected_name`, yields once, checks again; returns step + 1, or a
// negative code saying what was wrong.
EBB_TEST_EXPORT int ebb_test_b_step(int step, const char* expected_name);
// Throws std::runtime_error("thrown in B") from inside the fiber.
EBB_TEST_EXPORT void ebb_test_b_throw();
// What lib B's copy of ebb sees as the process-wide state.
EBB_TEST_EXPORT void* ebb_test_b_thread_state();
EBB_TEST_EXPORT void* ebb_test_b_pool();
EBB_TEST_EXPORT int ebb_test_b_lean();

// ---- lib A: owns the fiber ---------------------------------------------------------------------
// A fiber that calls ebb_test_b_step `steps` times and stores each result in *progress; if `thrower`,
// it then calls ebb_test_b_throw. While alive a guard object sits in its frame; its destructor sets
// *destroyed = 1 (so destroying the suspended fiber must unwind through B's frame).
EBB_TEST_EXPORT void* ebb_test_a_create(int steps, int* progress, int* destroyed, int thrower);
// resume(): 1 = suspended again, 0 = finished, -1 = it threw std::runtime_error("thrown in B").
EBB_TEST_EXPORT int ebb_test_a_resume(void* fiber);
EBB_TEST_EXPORT void ebb_test_a_destroy(void* fiber);
EBB_TEST_EXPORT void* ebb_test_a_thread_state();
EBB_TEST_EXPORT void* ebb_test_a_pool();
EBB_TEST_EXPORT int ebb_test_a_lean();
