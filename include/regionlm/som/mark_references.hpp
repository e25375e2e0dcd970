#pragma once
// Reading marks back out of an answer: which regions a model's text refers to. Fixes the
// weaknesses of microsoft/SoM's parser (docs/som.md): lists and neighbours are all found
// ("[1, 2]", "[3],[4]"), letters map back, out-of-range marks are ignored, and the order of
// first mention is kept.
#include <string>
#include <vector>

#include "regionlm/som/set_of_marks.hpp"

namespace regionlm::som {

/// Mark ids (1 .. count) that `text` names, each once, in the order of first mention.
/// Recognised, case-insensitively:
///  - bracketed marks and lists: "[2]", "[1, 2]", "[3],[4]", "[c]", "[a, b]" (letters with
///    MarkStyle::Letters, numbers with Numbers);
///  - region names as Osprey writes them: "region2", "<region2>", "region 2" (always numbers,
///    whatever the style: they name regions, not drawn marks).
/// Ids outside 1..count are skipped. Throws ArgumentError for count < 0.
std::vector<int> referenced_marks(const std::string& text, int count, MarkStyle style = MarkStyle::Numbers);

/// The id of a mark's text ("3" -> 3, "c" -> 3, "aa" -> 27), 0 when `text` is not one.
int mark_id(const std::string& text, MarkStyle style);

}  // namespace regionlm::som
