// regionlm-gpt4roi: ask GPT4RoI about boxes on an image (see README.md).
#include "gpt4roi/gpt4roi_app.hpp"

int main(int argc, char** argv) { return regionlm::examples::gpt4roi_main(argc, argv); }
