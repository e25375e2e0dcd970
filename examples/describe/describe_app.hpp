#pragma once
// regionlm-describe: the program behind examples/describe/main.cpp.
namespace regionlm::examples {

/// Runs the command line; returns the process exit code (0 ok, 1 error, 2 usage error).
int describe_main(int argc, char** argv);

}  // namespace regionlm::examples
