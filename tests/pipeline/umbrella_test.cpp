// regionlm/regionlm.hpp includes every public header (and compiles on its own here).
#include "regionlm/regionlm.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "test_util.hpp"

namespace regionlm::test {
namespace {

TEST(UmbrellaHeader, IncludesEveryPublicHeader) {
  const auto include_dir = source_dir() / "include";
  std::ifstream in(include_dir / "regionlm" / "regionlm.hpp");
  std::stringstream text;
  text << in.rdbuf();
  for (const auto& entry : std::filesystem::recursive_directory_iterator(include_dir / "regionlm")) {
    if (entry.path().extension() != ".hpp" || entry.path().filename() == "regionlm.hpp") continue;
    const std::string relative = std::filesystem::relative(entry.path(), include_dir).generic_string();
    EXPECT_NE(text.str().find("#include \"" + relative + "\""), std::string::npos) << relative << " is missing";
  }
}

}  // namespace
}  // namespace regionlm::test
