#pragma once

namespace regionlm::examples {

/// regionlm-server's main: parses the command line, loads the model (and SAM), serves until
/// SIGINT/SIGTERM, then finishes the requests in flight and returns 0.
int server_main(int argc, char** argv);

}  // namespace regionlm::examples
