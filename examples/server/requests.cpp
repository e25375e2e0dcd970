#include "server/requests.hpp"

#include <cmath>
#include <limits>

#include "json_depth.hpp"
#include "regionlm/prompts.hpp"
#include "server/api_error.hpp"

namespace regionlm::server {

using json = nlohmann::json;

namespace {

std::string type_name(const json& v) {
  if (v.is_null()) return "null";
  if (v.is_boolean()) return "a boolean";
  if (v.is_number_integer()) return "an integer";
  if (v.is_number()) return "a number";
  if (v.is_string()) return "a string";
  if (v.is_array()) return "an array";
  return "an object";
}

ApiError wrong_type(const std::string& param, const std::string& expected, const json& got) {
  return invalid_request(param, param + ": expected " + expected + ", got " + type_name(got), "invalid_type");
}

/// The member `key` of an object, or nullptr when absent or null.
const json* member(const json& object, const char* key) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

const json& required(const json& object, const char* key, const std::string& param) {
  const json* v = member(object, key);
  if (!v) throw invalid_request(param, param + " is required", "missing_field");
  return *v;
}

int64_t integer(const json& v, const std::string& param, int64_t lo, int64_t hi) {
  if (!v.is_number_integer()) throw wrong_type(param, "an integer", v);
  if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    throw invalid_request(param, param + " must be at most " + std::to_string(hi));
  }
  const int64_t x = v.get<int64_t>();
  if (x < lo || x > hi) {
    throw invalid_request(param, param + " must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " +
                                     std::to_string(x));
  }
  return x;
}

double number(const json& v, const std::string& param) {
  if (!v.is_number()) throw wrong_type(param, "a number", v);
  const double x = v.get<double>();
  if (!std::isfinite(x)) throw invalid_request(param, param + " must be finite");
  return x;
}

const std::string& string(const json& v, const std::string& param) {
  if (!v.is_string()) throw wrong_type(param, "a string", v);
  return v.get_ref<const std::string&>();
}

bool boolean(const json& v, const std::string& param) {
  if (!v.is_boolean()) throw wrong_type(param, "a boolean", v);
  return v.get<bool>();
}

const json& array(const json& v, const std::string& param) {
  if (!v.is_array()) throw wrong_type(param, "an array", v);
  return v;
}

const json& object(const json& v, const std::string& param) {
  if (!v.is_object()) throw wrong_type(param, "an object", v);
  return v;
}

std::string at(const std::string& param, size_t i) { return param + "[" + std::to_string(i) + "]"; }

/// [x, y] or [x, y, label] (label 1 positive, 0 negative; default 1).
sam::Point point(const json& v, const std::string& param, bool allow_label) {
  array(v, param);
  if (v.size() != 2 && !(allow_label && v.size() == 3)) {
    throw invalid_request(param, param + ": expected " + std::string(allow_label ? "[x, y] or [x, y, label]" : "[x, y]"));
  }
  sam::Point p{number(v[0], param + "[0]"), number(v[1], param + "[1]"), 1};
  if (v.size() == 3) p.label = static_cast<int>(integer(v[2], param + "[2]", 0, 1));
  return p;
}

std::vector<sam::Point> points(const json& v, const std::string& param) {
  array(v, param);
  if (v.empty()) throw invalid_request(param, param + " must hold at least one point");
  if (v.size() > kMaxPromptPoints) throw invalid_request(param, param + ": at most " + std::to_string(kMaxPromptPoints) + " points");
  std::vector<sam::Point> out;
  for (size_t i = 0; i < v.size(); ++i) out.push_back(point(v[i], at(param, i), true));
  return out;
}

std::vector<cv::Point2d> polyline(const json& v, const std::string& param) {
  array(v, param);
  if (v.empty()) throw invalid_request(param, param + " must hold at least one point");
  if (v.size() > kMaxPromptPoints) throw invalid_request(param, param + ": at most " + std::to_string(kMaxPromptPoints) + " points");
  std::vector<cv::Point2d> out;
  for (size_t i = 0; i < v.size(); ++i) {
    const sam::Point p = point(v[i], at(param, i), false);
    out.emplace_back(p.x, p.y);
  }
  return out;
}

std::array<double, 4> box(const json& v, const std::string& param) {
  array(v, param);
  if (v.size() != 4) throw invalid_request(param, param + ": expected [x0, y0, x1, y1]");
  std::array<double, 4> b{};
  for (size_t i = 0; i < 4; ++i) b[i] = number(v[i], at(param, i));
  if (b[2] < b[0] || b[3] < b[1]) throw invalid_request(param, param + ": x1 < x0 or y1 < y0");
  return b;
}

RegionInput region(const json& v, const std::string& param) {
  object(v, param);
  static const char* kKinds[] = {"mask", "mask_png", "box", "points", "scribble"};
  int given = 0;
  for (const char* k : kKinds) given += member(v, k) != nullptr;
  if (given != 1) {
    throw invalid_request(param, param + ": expected exactly one of \"mask\" (COCO RLE), \"mask_png\", \"box\", \"points\", "
                                         "\"scribble\"");
  }
  RegionInput r;
  r.param = param;
  if (const json* mask = member(v, "mask")) {
    const std::string p = param + ".mask";
    r.kind = RegionInput::Kind::Rle;
    object(*mask, p);
    const json& size = array(required(*mask, "size", p + ".size"), p + ".size");
    if (size.size() != 2) throw invalid_request(p + ".size", p + ".size: expected [height, width]");
    r.rle_height = static_cast<int>(integer(size[0], p + ".size[0]", 1, limits::kMaxImageSide));
    r.rle_width = static_cast<int>(integer(size[1], p + ".size[1]", 1, limits::kMaxImageSide));
    const json& counts = required(*mask, "counts", p + ".counts");
    if (counts.is_string()) {
      r.rle_string = counts.get<std::string>();
    } else if (counts.is_array()) {
      const uint64_t pixels = static_cast<uint64_t>(r.rle_height) * static_cast<uint64_t>(r.rle_width);
      if (counts.size() > pixels + 1) {
        throw unprocessable(p + ".counts", p + ".counts: " + std::to_string(counts.size()) + " runs for " +
                                               std::to_string(pixels) + " pixels");
      }
      r.rle_counts.reserve(counts.size());
      for (size_t i = 0; i < counts.size(); ++i) {
        r.rle_counts.push_back(static_cast<uint32_t>(integer(counts[i], at(p + ".counts", i), 0, 0xffffffffLL)));
      }
    } else {
      throw wrong_type(p + ".counts", "a string or an array of run lengths", counts);
    }
  } else if (const json* png = member(v, "mask_png")) {
    r.kind = RegionInput::Kind::MaskPng;
    const std::string& text = string(*png, param + ".mask_png");
    std::string_view payload = text;
    if (payload.rfind("data:", 0) == 0) {
      const size_t comma = payload.find(',');
      if (comma == std::string_view::npos || payload.substr(0, comma).find(";base64") == std::string_view::npos) {
        throw invalid_request(param + ".mask_png", param + ".mask_png: expected base64 PNG data or a base64 data URL");
      }
      payload.remove_prefix(comma + 1);
    }
    auto bytes = base64_decode(payload);
    if (!bytes) throw invalid_request(param + ".mask_png", param + ".mask_png is not valid base64", "invalid_base64");
    r.mask_png = std::move(*bytes);
  } else if (const json* b = member(v, "box")) {
    r.kind = RegionInput::Kind::Box;
    r.box = box(*b, param + ".box");
  } else if (const json* p = member(v, "points")) {
    r.kind = RegionInput::Kind::Points;
    r.points = points(*p, param + ".points");
  } else {
    r.kind = RegionInput::Kind::Scribble;
    r.scribble = polyline(*member(v, "scribble"), param + ".scribble");
  }
  return r;
}

std::vector<RegionInput> regions(const json& body) {
  std::vector<RegionInput> out;
  const json* list = member(body, "regions");
  if (!list) return out;
  array(*list, "regions");
  if (list->size() > static_cast<size_t>(limits::kMaxRegions)) {
    throw invalid_request("regions", "at most " + std::to_string(limits::kMaxRegions) + " regions");
  }
  for (size_t i = 0; i < list->size(); ++i) out.push_back(region((*list)[i], at("regions", i)));
  return out;
}

/// OpenAI's sampling fields (plus top_k and repetition_penalty) -> GenerationOptions.
GenerationOptions generation(const json& body) {
  GenerationOptions g;
  g.max_new_tokens = 512;
  const json* max_tokens = member(body, "max_tokens");
  std::string max_param = "max_tokens";
  if (!max_tokens) {
    max_tokens = member(body, "max_completion_tokens");
    max_param = "max_completion_tokens";
  }
  if (max_tokens) g.max_new_tokens = integer(*max_tokens, max_param, 1, kMaxTokensLimit);
  if (const json* t = member(body, "temperature")) {
    g.temperature = static_cast<float>(number(*t, "temperature"));
    if (g.temperature < 0 || g.temperature > 2) throw invalid_request("temperature", "temperature must be in [0, 2]");
  }
  if (const json* p = member(body, "top_p")) {
    const double top_p = number(*p, "top_p");
    if (!(top_p > 0 && top_p <= 1)) throw invalid_request("top_p", "top_p must be in (0, 1]");
    g.top_p = static_cast<float>(top_p);
  }
  if (const json* k = member(body, "top_k")) g.top_k = integer(*k, "top_k", 0, 1 << 20);
  if (const json* r = member(body, "repetition_penalty")) {
    const double penalty = number(*r, "repetition_penalty");
    if (!(penalty > 0 && penalty <= 100)) throw invalid_request("repetition_penalty", "repetition_penalty must be in (0, 100]");
    g.repetition_penalty = static_cast<float>(penalty);
  }
  if (const json* s = member(body, "seed")) {
    if (!s->is_number_integer()) throw wrong_type("seed", "an integer", *s);
    g.seed = s->is_number_unsigned() ? s->get<uint64_t>() : static_cast<uint64_t>(s->get<int64_t>());
  }
  if (const json* stop = member(body, "stop")) {
    if (stop->is_string()) {
      g.stop_strings.push_back(stop->get<std::string>());
    } else {
      array(*stop, "stop");
      if (stop->size() > kMaxStopStrings) throw invalid_request("stop", "stop: at most " + std::to_string(kMaxStopStrings) + " strings");
      for (size_t i = 0; i < stop->size(); ++i) g.stop_strings.push_back(string((*stop)[i], at("stop", i)));
    }
    for (const std::string& s : g.stop_strings) {
      if (s.empty()) throw invalid_request("stop", "stop strings must not be empty");
    }
  }
  if (const json* n = member(body, "n")) {
    if (integer(*n, "n", 1, 1 << 20) != 1) throw invalid_request("n", "only n = 1 is supported", "unsupported_value");
  }
  if (const json* logprobs = member(body, "logprobs"); logprobs && boolean(*logprobs, "logprobs")) {
    throw invalid_request("logprobs", "logprobs are not supported", "unsupported_value");
  }
  if (const json* tools = member(body, "tools"); tools && !(tools->is_array() && tools->empty())) {
    throw invalid_request("tools", "tools are not supported", "unsupported_value");
  }
  return g;
}

/// A message's text: a string, or the concatenation (one "\n" between) of its text parts.
/// Image parts are handed to `on_image`.
template <typename OnImage>
std::string message_text(const json& content, const std::string& param, OnImage on_image) {
  if (content.is_string()) return content.get<std::string>();
  array(content, param);
  std::string text;
  bool first = true;
  for (size_t i = 0; i < content.size(); ++i) {
    const std::string p = at(param, i);
    const json& part = object(content[i], p);
    const std::string& type = string(required(part, "type", p + ".type"), p + ".type");
    if (type == "text") {
      if (!first) text += "\n";
      text += string(required(part, "text", p + ".text"), p + ".text");
      first = false;
    } else if (type == "image_url") {
      const json& image_url = required(part, "image_url", p + ".image_url");
      const json& url = image_url.is_object() ? required(image_url, "url", p + ".image_url.url") : image_url;
      on_image(url, p + ".image_url.url");
    } else {
      throw invalid_request(p + ".type", p + ".type: expected \"text\" or \"image_url\", got \"" + type + "\"");
    }
  }
  return text;
}

constexpr int8_t kNotBase64 = -1;

std::array<int8_t, 256> base64_table() {
  std::array<int8_t, 256> table{};
  table.fill(kNotBase64);
  const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (int i = 0; i < 64; ++i) table[static_cast<uint8_t>(alphabet[i])] = static_cast<int8_t>(i);
  return table;
}

}  // namespace

json parse_body(const std::string& body) {
  const json::parser_callback_t depth_limit = [](int depth, json::parse_event_t event, json&) {
    if (json_too_deep(depth, event)) throw invalid_request("", json_depth_message("the request body"), "invalid_json");
    return true;
  };
  json parsed = json::parse(body, depth_limit, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) throw invalid_request("", "the request body is not valid JSON", "invalid_json");
  if (!parsed.is_object()) throw invalid_request("", "the request body must be a JSON object", "invalid_json");
  return parsed;
}

std::optional<std::string> base64_decode(std::string_view text) {
  static const std::array<int8_t, 256> table = base64_table();
  if (text.size() % 4 == 0) {  // padded: at most two '=' at the very end
    for (int i = 0; i < 2 && !text.empty() && text.back() == '='; ++i) text.remove_suffix(1);
  }
  if (text.size() % 4 == 1) return std::nullopt;  // (any other '=' fails the table below)
  std::string out;
  out.reserve(text.size() / 4 * 3 + 2);
  uint32_t buffer = 0;
  int bits = 0;
  for (const char c : text) {
    const int8_t v = table[static_cast<uint8_t>(c)];
    if (v == kNotBase64) return std::nullopt;
    buffer = (buffer << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xff));
    }
  }
  return out;
}

std::string base64_encode(std::string_view bytes) {
  const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8) | uint8_t(bytes[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out.push_back(alphabet[(v >> s) & 63]);
  }
  if (i < bytes.size()) {
    uint32_t v = uint8_t(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= uint8_t(bytes[i + 1]) << 8;
    out.push_back(alphabet[(v >> 18) & 63]);
    out.push_back(alphabet[(v >> 12) & 63]);
    out.push_back(i + 1 < bytes.size() ? alphabet[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

ImageInput parse_image_url(const json& value, const std::string& param) {
  const std::string& url = string(value, param);
  if (url.rfind("data:", 0) != 0) {
    throw invalid_request(param, param + ": only data URLs (data:image/png;base64,... or image/jpeg) are accepted; "
                                         "the server fetches nothing",
                          "unsupported_url");
  }
  const size_t comma = url.find(',');
  if (comma == std::string::npos) throw invalid_request(param, param + ": a data URL needs a ',' before its data");
  const std::string header = url.substr(5, comma - 5);  // "image/png;base64"
  const size_t semicolon = header.find(';');
  const std::string media = header.substr(0, semicolon);
  if (media != "image/png" && media != "image/jpeg" && media != "image/jpg") {
    throw invalid_request(param, param + ": media type \"" + media + "\" is not image/png or image/jpeg",
                          "unsupported_media_type");
  }
  if (header.find(";base64") == std::string::npos) {
    throw invalid_request(param, param + ": the data URL must be base64 encoded (;base64,)");
  }
  auto bytes = base64_decode(std::string_view(url).substr(comma + 1));
  if (!bytes) throw invalid_request(param, param + ": the data URL's payload is not valid base64", "invalid_base64");
  if (bytes->empty()) throw invalid_request(param, param + ": the image is empty");
  return {std::move(*bytes), param};
}

ChatRequest parse_chat_request(const json& body) {
  ChatRequest request;
  const json& messages = array(required(body, "messages", "messages"), "messages");
  if (messages.empty()) throw invalid_request("messages", "messages must not be empty");
  bool have_image = false;
  std::optional<std::string> pending_user;  // a user message waiting for its answer
  for (size_t i = 0; i < messages.size(); ++i) {
    const std::string p = at("messages", i);
    const json& message = object(messages[i], p);
    const std::string& role = string(required(message, "role", p + ".role"), p + ".role");
    const json* content = member(message, "content");
    if (!content) throw invalid_request(p + ".content", p + ".content is required", "missing_field");
    const bool user = role == "user";
    if (role == "system" || role == "developer") {
      throw invalid_request(p + ".role", p + ": " + role + " messages are not supported: the model's conversation "
                                         "template fixes the system text", "unsupported_value");
    }
    if (!user && role != "assistant") {
      throw invalid_request(p + ".role", p + ".role: expected \"user\" or \"assistant\", got \"" + role + "\"");
    }
    if (user == pending_user.has_value()) {
      throw invalid_request(p + ".role", p + ": messages must alternate user, assistant, user, ... and start with user");
    }
    const std::string text = message_text(*content, p + ".content", [&](const json& url, const std::string& param) {
      if (!user || i != 0) {
        throw invalid_request(param, param + ": the image must be in the first user message (one image per conversation)",
                              "unsupported_value");
      }
      if (have_image) throw invalid_request(param, param + ": only one image per conversation", "unsupported_value");
      request.image = parse_image_url(url, param);
      have_image = true;
    });
    if (user) {
      pending_user = text;
      request.question_param = p + ".content";
    } else {
      request.history.push_back({*pending_user, text});
      pending_user.reset();
    }
  }
  if (!pending_user) throw invalid_request("messages", "the last message must be the user's question");
  if (!have_image) {
    throw invalid_request("messages[0].content", "the first user message needs an image_url part (a data URL)",
                          "missing_field");
  }
  request.question = *pending_user;
  request.regions = regions(body);
  request.generation = generation(body);
  if (const json* stream = member(body, "stream")) request.stream = boolean(*stream, "stream");
  if (const json* options = member(body, "stream_options")) {
    object(*options, "stream_options");
    if (const json* usage = member(*options, "include_usage")) {
      request.include_usage = boolean(*usage, "stream_options.include_usage");
    }
  }
  return request;
}

DescribeRequest parse_describe_request(const json& body) {
  DescribeRequest request;
  request.image = parse_image_url(required(body, "image", "image"), "image");
  if (const json* everything = member(body, "everything")) request.everything = boolean(*everything, "everything");
  request.regions = regions(body);
  if (request.everything == !request.regions.empty()) {
    throw invalid_request("regions", "give either \"regions\" (non-empty) or \"everything\": true");
  }
  request.prompt = prompts::kShortDescription;
  if (const json* prompt = member(body, "prompt")) request.prompt = string(*prompt, "prompt");
  request.generation = generation(body);
  return request;
}

SegmentRequest parse_segment_request(const json& body) {
  SegmentRequest request;
  request.image = parse_image_url(required(body, "image", "image"), "image");
  if (const json* p = member(body, "points")) request.points = points(*p, "points");
  if (const json* b = member(body, "box")) {
    const auto xyxy = box(*b, "box");
    request.box = sam::Box{xyxy[0], xyxy[1], xyxy[2], xyxy[3]};
  }
  if (const json* s = member(body, "scribble")) request.scribble = polyline(*s, "scribble");
  if (request.points.empty() && !request.box && request.scribble.empty()) {
    throw invalid_request("points", "give a prompt: \"points\", \"box\" and/or \"scribble\"", "missing_field");
  }
  if (const json* m = member(body, "multimask")) request.multimask = boolean(*m, "multimask");
  if (const json* r = member(body, "refinement_passes")) {
    request.refinement_passes = integer(*r, "refinement_passes", 0, sam::kMaxRefinementPasses);
  }
  return request;
}

}  // namespace regionlm::server
