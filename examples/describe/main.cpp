// regionlm-describe: describe regions of an image (see README.md).
#include "describe/describe_app.hpp"

int main(int argc, char** argv) { return regionlm::examples::describe_main(argc, argv); }
