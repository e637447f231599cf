# SPDX-License-Identifier: BSL-1.0
cmake_minimum_required(VERSION 3.14)
project(ebb_consumer CXX)
include(FetchContent)
# A user writes the release's URL here; the test passes a tarball of the tree it checks.
FetchContent_Declare(ebb URL "file://${EBB_TARBALL}")
FetchContent_MakeAvailable(ebb)
add_executable(consumer main.cpp)
target_link_libraries(consumer PRIVATE ebb::ebb)
