#pragma once
// regionlm-gpt4roi: the program behind examples/gpt4roi/main.cpp.
namespace regionlm::examples {

/// Runs the command line; returns the process exit code (0 ok, 1 error, 2 usage error).
int gpt4roi_main(int argc, char** argv);

}  // namespace regionlm::examples
