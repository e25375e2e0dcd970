// regionlm-chat: a multi-turn conversation about regions of an image (see README.md).
#include "chat/chat_app.hpp"

int main(int argc, char** argv) { return regionlm::examples::chat_main(argc, argv); }
