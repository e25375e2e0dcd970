#pragma once
// regionlm-segment: the program behind examples/segment/main.cpp.
namespace regionlm::examples {

/// Runs the command line; returns the process exit code (0 ok, 1 error, 2 usage error).
int segment_main(int argc, char** argv);

}  // namespace regionlm::examples
