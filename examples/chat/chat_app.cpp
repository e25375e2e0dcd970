#include "chat/chat_app.hpp"

#include <nlohmann/json.hpp>
#include <unistd.h>

#include <iostream>
#include <string>

#include "common/answer_json.hpp"
#include "common/options.hpp"
#include "regionlm/error.hpp"
#include "regionlm/model.hpp"

namespace regionlm::examples {

namespace {

constexpr const char* kProgram = "regionlm-chat";

std::string trim(const std::string& s) {
  const size_t first = s.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return {};
  return s.substr(first, s.find_last_not_of(" \t\r\n") - first + 1);
}

}  // namespace

int chat_main(int argc, char** argv) {
  try {
    CommonOptions common;
    bool json = false;
    ArgumentParser parser(kProgram,
                          "A conversation about regions of one image with an Osprey or GPT4RoI model. Reads one\n"
                          "question per line from stdin and prints each answer as it is generated. Questions name\n"
                          "regions with <region> or <region1>..<regionN> (Osprey introduces regions the first\n"
                          "question leaves out; GPT4RoI lets any turn name a box first, and later turns may say\n"
                          "plain region1). GPT4RoI reads boxes: a mask region is used as its bounding box (noted\n"
                          "on stderr). Lines \"/reset\" start over, \"/quit\" (or end of input) ends.");
    add_common_options(parser, common);
    parser.flag("json", "print one JSON object per answer (question, text, tokens, stop_reason)", &json);
    if (!parser.parse(argc, argv)) return 0;

    const std::vector<Region> regions = load_regions(common.regions);
    const Model model = Model::load(common.model_dir, load_options(common));
    ChatSession session = model.chat(model.encode(std::filesystem::path(common.image)), regions);

    const bool interactive = isatty(STDIN_FILENO) != 0;
    int failures = 0;
    bool noted = false;
    std::string line;
    while (true) {
      if (interactive) std::cout << "> " << std::flush;
      if (!std::getline(std::cin, line)) break;
      const std::string question = trim(line);
      if (question.empty()) continue;
      if (question == "/quit") break;
      if (question == "/reset") {
        session.reset();
        continue;
      }
      GenerationOptions generation = common.generation;
      if (!json) {
        generation.on_step = [](const Step& step) {
          std::cout << step.piece << std::flush;
          return true;
        };
      }
      try {
        const Answer answer = session.ask(question, generation);
        if (!noted) {  // the notes are about the session's regions: said once
          for (const std::string& note : answer.notes) std::cerr << "note: " << note << "\n";
          noted = true;
        }
        if (json) {
          std::cout << nlohmann::json{{"question", question},
                                      {"text", answer.text},
                                      {"tokens", answer.tokens},
                                      {"stop_reason", to_string(answer.stop_reason)},
                                      {"mentions", mentions_json(answer)},
                                      {"notes", answer.notes}}
                           .dump()
                    << std::endl;
        } else {
          std::cout << std::endl;
        }
      } catch (const ArgumentError& e) {
        // A bad question does not end the conversation.
        ++failures;
        if (!json) std::cout << std::endl;
        std::cerr << kProgram << ": error: " << e.what() << "\n";
      }
    }
    return failures == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    return report_error(kProgram, e);
  }
}

}  // namespace regionlm::examples
