// regionlm-server: an OpenAI-style HTTP API with regions, and a web page (see README.md).
#include "server/server_app.hpp"

int main(int argc, char** argv) { return regionlm::examples::server_main(argc, argv); }
