// regionlm.Model, EncodedImage, ChatSession and what they return (Answer, Timings, ...).
// Every call that computes releases the GIL, so Python threads sharing one Model run in
// parallel (a Model is immutable and thread-safe, model.hpp); a step or progress callback
// takes the GIL back only for the Python call itself.
#include "regionlm/model.hpp"

#include <nanobind/stl/filesystem.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <variant>

#include "bindings.hpp"
#include "regionlm/error.hpp"
#include "regionlm/gpt4roi/prompt.hpp"
#include "regionlm/prompts.hpp"

namespace regionlm::python {
namespace {

const GenerationOptions kGenerationDefaults;
const LoadOptions kLoadDefaults;

/// The image argument of encode / describe / describe_each / chat, as the stub shows it.
using ModelImageArg = nb::typed<nb::handle, std::variant<EncodedImage, std::filesystem::path, AnyArray>>;
using StepCallback = CallbackArg<std::optional<bool>(const Step&)>;

/// Calls a Python callable from the computing thread: takes the GIL for the call, keeps the
/// first exception it raises (rethrown by the binding once the computation returns).
struct PythonCallback {
  nb::object function;
  std::exception_ptr error;

  bool active() const { return function.is_valid() && !function.is_none(); }
  template <class... Args>
  bool call(Args&&... args) {
    nb::gil_scoped_acquire gil;
    if (error) return false;
    try {
      nb::object result = function(std::forward<Args>(args)...);
      return result.is_none() || nb::cast<bool>(result);
    } catch (...) {
      error = std::current_exception();
      return false;
    }
  }
  /// With the GIL held.
  void rethrow() const {
    if (error) std::rethrow_exception(error);
  }
};

/// The keyword arguments of every generating call, in one place. Defaults are
/// GenerationOptions' own.
#define REGIONLM_GENERATION_ARGS                                                                             \
  nb::kw_only(), nb::arg("max_new_tokens") = kGenerationDefaults.max_new_tokens,                             \
                 nb::arg("temperature") = kGenerationDefaults.temperature,                                   \
                 nb::arg("top_k") = kGenerationDefaults.top_k, nb::arg("top_p") = kGenerationDefaults.top_p, \
                 nb::arg("repetition_penalty") = kGenerationDefaults.repetition_penalty,                     \
                 nb::arg("seed") = kGenerationDefaults.seed, nb::arg("stop") = std::vector<std::string>{},   \
                 nb::arg("on_step") = nb::none()

constexpr const char* kGenerationDoc =
    "Generation keywords (regionlm::GenerationOptions, defaults as in the signature): max_new_tokens,\n"
    "temperature (0 = greedy), top_k (0 = off), top_p (1 = off), repetition_penalty (1 = off), seed,\n"
    "stop (strings that end the answer),\n"
    "on_step (called with a Step for every generated token, on the generating thread with the GIL\n"
    "held; return False to stop that answer).";

/// Generation keywords as the library's options; the step callback goes through `relay`.
struct Generation {
  GenerationOptions options;
  PythonCallback relay;

  Generation(int64_t max_new_tokens, float temperature, int64_t top_k, float top_p, float repetition_penalty,
             uint64_t seed, std::vector<std::string> stop, StepCallback on_step) {
    options.max_new_tokens = max_new_tokens;
    options.temperature = temperature;
    options.top_k = top_k;
    options.top_p = top_p;
    options.repetition_penalty = repetition_penalty;
    options.seed = seed;
    options.stop_strings = std::move(stop);
    relay.function = std::move(on_step);
    if (relay.active()) {
      if (!PyCallable_Check(relay.function.ptr())) throw ArgumentError("on_step: expected a callable or None");
      options.on_step = [this](const Step& step) { return relay.call(step); };
    }
  }
  Generation(const Generation&) = delete;  // options.on_step points at this object's relay
};

/// An image argument of describe / describe_each / chat.
using ImageArgument = std::variant<EncodedImage, std::filesystem::path, cv::Mat>;

ImageArgument image_argument(nb::handle value) {
  if (nb::isinstance<EncodedImage>(value)) return nb::cast<EncodedImage>(value);
  ImageInput input = image_input(value, "image");
  if (auto* path = std::get_if<std::filesystem::path>(&input)) return *path;
  return std::get<cv::Mat>(input);
}

/// Encodes unless already encoded (called without the GIL).
EncodedImage encoded(const Model& model, const ImageArgument& image) {
  if (auto* e = std::get_if<EncodedImage>(&image)) return *e;
  if (auto* p = std::get_if<std::filesystem::path>(&image)) return model.encode(*p);
  return model.encode(std::get<cv::Mat>(image));
}

std::string default_prompt(const Model& model) {
  return model.family() == ModelFamily::Gpt4roi ? gpt4roi::kDetailedDescription : prompts::kShortDescription;
}

Answer describe(const Model& model, ModelImageArg image, const std::vector<Region>& regions,
                const std::optional<std::string>& prompt, int64_t max_new_tokens, float temperature, int64_t top_k,
                float top_p, float repetition_penalty, uint64_t seed, std::vector<std::string> stop,
                StepCallback on_step) {
  const ImageArgument input = image_argument(image);
  const std::string question = prompt.value_or(default_prompt(model));
  Generation generation(max_new_tokens, temperature, top_k, top_p, repetition_penalty, seed, std::move(stop),
                        std::move(on_step));
  std::optional<Answer> answer;
  {
    nb::gil_scoped_release release;
    // The path and pixel overloads report the encoding's time in Answer::encode_ms.
    answer =
        std::visit([&](const auto& img) { return model.describe(img, regions, question, generation.options); }, input);
  }
  generation.relay.rethrow();
  return std::move(*answer);
}

std::vector<Answer> describe_each(const Model& model, ModelImageArg image, const std::vector<Region>& regions,
                                  const std::optional<std::string>& prompt, int64_t max_new_tokens, float temperature,
                                  int64_t top_k, float top_p, float repetition_penalty, uint64_t seed,
                                  std::vector<std::string> stop, StepCallback on_step) {
  const ImageArgument input = image_argument(image);
  const std::string question = prompt.value_or(default_prompt(model));
  Generation generation(max_new_tokens, temperature, top_k, top_p, repetition_penalty, seed, std::move(stop),
                        std::move(on_step));
  std::vector<Answer> answers;
  {
    nb::gil_scoped_release release;
    const EncodedImage e = encoded(model, input);
    answers = model.describe_each(e, regions, question, generation.options);
    if (!std::holds_alternative<EncodedImage>(input)) {
      for (Answer& a : answers) a.encode_ms = e.encode_ms();
    }
  }
  generation.relay.rethrow();
  return answers;
}

/// A ChatSession with a lock: Python threads may share one by mistake, and an unguarded
/// session would then be a data race rather than an error.
struct Chat {
  ChatSession session;
  std::unique_ptr<std::mutex> mutex = std::make_unique<std::mutex>();
};

Answer chat_ask(Chat& chat, const std::string& question, int64_t max_new_tokens, float temperature, int64_t top_k,
                float top_p, float repetition_penalty, uint64_t seed, std::vector<std::string> stop,
                StepCallback on_step) {
  Generation generation(max_new_tokens, temperature, top_k, top_p, repetition_penalty, seed, std::move(stop),
                        std::move(on_step));
  std::optional<Answer> answer;
  {
    nb::gil_scoped_release release;
    std::lock_guard<std::mutex> lock(*chat.mutex);
    answer = chat.session.ask(question, generation.options);
  }
  generation.relay.rethrow();
  return std::move(*answer);
}

Model load(const std::filesystem::path& dir, const std::string& device, const std::string& dtype,
           const std::string& quantize, const std::filesystem::path& vision_tower, const std::string& image_prefix,
           const std::string& conversation_template, bool strict_regions, bool reuse_image_prefix,
           bool allow_unexpected_keys, int64_t batch_rows, bool pack_cpu_weights, CallbackArg<void(double, const std::string&)> on_progress) {
  LoadOptions options;
  options.device = device;
  options.dtype = dtype;
  options.quantize = quantize;
  options.vision_tower = vision_tower;
  options.image_prefix = image_prefix;
  options.conversation_template = conversation_template;
  options.strict_regions = strict_regions;
  options.reuse_image_prefix = reuse_image_prefix;
  options.allow_unexpected_keys = allow_unexpected_keys;
  options.batch_rows = batch_rows;
  options.pack_cpu_weights = pack_cpu_weights;
  PythonCallback progress{std::move(on_progress), nullptr};
  if (progress.active()) {
    if (!PyCallable_Check(progress.function.ptr())) throw ArgumentError("on_progress: expected a callable or None");
    options.on_progress = [&progress](double fraction, const std::string& stage) { progress.call(fraction, stage); };
  }
  std::optional<Model> model;
  {
    nb::gil_scoped_release release;
    model = Model::load(dir, options);
  }
  progress.rethrow();
  return std::move(*model);
}

std::string device_text(const torch::Device& d) { return d.str(); }

}  // namespace

void register_model(nb::module_& m) {
  nb::class_<Timings>(m, "Timings", "Wall times and token counts of one generation.")
      .def_ro("prefill_ms", &Timings::prefill_ms, "Prompt forward + first token choice, ms.")
      .def_ro("decode_ms", &Timings::decode_ms, "All later forwards and token choices, ms.")
      .def_ro("prompt_tokens", &Timings::prompt_tokens, "Prompt positions.")
      .def_ro("generated_tokens", &Timings::generated_tokens, "Tokens returned.")
      .def_ro("decode_tokens_per_second", &Timings::decode_tokens_per_second, "Decode forwards per second.")
      .def("__repr__", [](const Timings& t) {
        return "Timings(prefill_ms=" + std::to_string(t.prefill_ms) + ", decode_ms=" + std::to_string(t.decode_ms) +
               ", prompt_tokens=" + std::to_string(t.prompt_tokens) +
               ", generated_tokens=" + std::to_string(t.generated_tokens) + ")";
      });

  nb::class_<RegionMention>(m, "RegionMention", "A region an answer names ('region2', '<region2>', 'region 2').")
      .def_ro("offset", &RegionMention::offset, "Byte offset of the mention in Answer.text.")
      .def_ro("length", &RegionMention::length, "Bytes of the mention.")
      .def_ro("region", &RegionMention::region, "0-based index into the regions given to the call.")
      .def("__repr__", [](const RegionMention& r) {
        return "RegionMention(offset=" + std::to_string(r.offset) + ", length=" + std::to_string(r.length) +
               ", region=" + std::to_string(r.region) + ")";
      });

  nb::class_<Step>(m, "Step", "One generated token, as on_step sees it.")
      .def_ro("row", &Step::row, "Which answer: 0 for describe and chat, the region's index for describe_each.")
      .def_ro("token", &Step::token, "The token id just generated.")
      .def_ro("piece", &Step::piece, "The text it releases (may be empty while a stop string is undecided).")
      .def_ro("finished", &Step::finished, "True on the answer's last step.")
      .def("__repr__", [](const Step& s) {
        return "Step(row=" + std::to_string(s.row) + ", token=" + std::to_string(s.token) +
               ", piece=" + std::string(nb::repr(nb::str(s.piece.c_str(), s.piece.size())).c_str()) +
               ", finished=" + (s.finished ? "True" : "False") + ")";
      });

  nb::class_<Answer>(m, "Answer", "One generated answer.")
      .def_ro("text", &Answer::text, "The answer (EOS and any stop string excluded).")
      .def_prop_ro(
          "tokens",
          [](nb::handle self) {
            // A read-only view of the answer's ids, keeping the Answer alive.
            const Answer& a = nb::cast<const Answer&>(self);
            const size_t shape[1] = {a.tokens.size()};
            return nb::ndarray<nb::numpy, const int64_t, nb::ndim<1>>(a.tokens.data(), 1, shape, self);
          },
          "Generated token ids (int64 array, read-only view), including a final EOS.")
      .def_prop_ro(
          "stop_reason", [](const Answer& a) { return to_string(a.stop_reason); },
          "'eos', 'stop_string', 'length' or 'cancelled'.")
      .def_ro("timings", &Answer::timings, "Prefill / decode wall times and token counts.")
      .def_ro("encode_ms", &Answer::encode_ms, "Vision trunk + projector, ms (0 for a pre-encoded image).")
      .def_ro("regions_ms", &Answer::regions_ms, "Region tokens, ms.")
      .def_ro("mentions", &Answer::mentions, "Regions the text names, in text order.")
      .def_ro("notes", &Answer::notes, "How the input was adapted to the model (empty normally).")
      .def("__str__", [](const Answer& a) { return a.text; })
      .def("__repr__", [](const Answer& a) {
        return "Answer(text=" + std::string(nb::repr(nb::str(a.text.c_str(), a.text.size())).c_str()) +
               ", stop_reason='" + to_string(a.stop_reason) + "', tokens=" + std::to_string(a.tokens.size()) + ")";
      });

  nb::class_<EncodedImage>(m, "EncodedImage",
                           "An image after the vision trunk (Model.encode): reuse it for any number of questions,\n"
                           "from any thread. Only the Model that made it may use it.")
      .def_prop_ro("height", &EncodedImage::height, "Image height, px (region masks use this size).")
      .def_prop_ro("width", &EncodedImage::width, "Image width, px.")
      .def_prop_ro("encode_ms", &EncodedImage::encode_ms, "Wall time of the encoding, ms.")
      .def_prop_ro(
          "image_tokens", [](const EncodedImage& e) { return tensor_to_numpy(e.image_tokens().to(torch::kFloat32)); },
          "Projected image tokens [N, hidden] as a read-only float32 array (a copy when the model's dtype is\n"
          "not float32).")
      .def("__repr__", [](const EncodedImage& e) {
        return "<regionlm.EncodedImage " + std::to_string(e.height()) + "x" + std::to_string(e.width()) + ">";
      });

  nb::class_<Chat>(m, "ChatSession",
                   "A conversation about one image and its regions (Model.chat). Keeps the decoder's cache\n"
                   "between turns; calls on one session are serialised.")
      .def("ask", &chat_ask, nb::arg("question"), REGIONLM_GENERATION_ARGS,
           (std::string("Answers `question` in the context of every earlier turn (placeholders <region>,\n"
                        "<region1>.. as in describe). ArgumentError when the conversation no longer fits.\n") +
            kGenerationDoc)
               .c_str())
      .def_prop_ro(
          "history",
          [](const Chat& c) {
            std::lock_guard<std::mutex> lock(*c.mutex);
            std::vector<std::pair<std::string, std::string>> turns;
            for (const text::Turn& t : c.session.history()) turns.emplace_back(t.user, t.assistant);
            return turns;
          },
          "The answered turns as (question, answer) pairs.")
      .def(
          "reset",
          [](Chat& c) {
            std::lock_guard<std::mutex> lock(*c.mutex);
            c.session.reset();
          },
          "Forgets the conversation (image and regions stay).")
      .def_prop_ro(
          "cached_positions",
          [](const Chat& c) {
            std::lock_guard<std::mutex> lock(*c.mutex);
            return c.session.cached_positions();
          },
          "Positions the decoder's cache holds.");

  nb::class_<Model>(m, "Model",
                    "An Osprey or GPT4RoI checkpoint loaded for inference. Immutable: any number of Python\n"
                    "threads may call one Model at once (the GIL is released while it computes).")
      .def_static("load", &load, nb::arg("dir"), nb::kw_only(), nb::arg("device") = kLoadDefaults.device,
                  nb::arg("dtype") = kLoadDefaults.dtype, nb::arg("quantize") = kLoadDefaults.quantize,
                  nb::arg("vision_tower") = kLoadDefaults.vision_tower,
                  nb::arg("image_prefix") = kLoadDefaults.image_prefix,
                  nb::arg("conversation_template") = kLoadDefaults.conversation_template,
                  nb::arg("strict_regions") = kLoadDefaults.strict_regions,
                  nb::arg("reuse_image_prefix") = kLoadDefaults.reuse_image_prefix,
                  nb::arg("allow_unexpected_keys") = kLoadDefaults.allow_unexpected_keys,
                  nb::arg("batch_rows") = kLoadDefaults.batch_rows,
                  nb::arg("pack_cpu_weights") = kLoadDefaults.pack_cpu_weights, nb::arg("on_progress") = nb::none(),
                  "Loads a model directory (config.json, tokenizer.model, weights). device: 'cpu', 'cuda',\n"
                  "'cuda:1' ('' = CUDA when available); dtype: 'float32', 'bfloat16', 'float16' ('' =\n"
                  "bfloat16 on CUDA, float32 on CPU); quantize: '' or 'int8'; batch_rows: N > 1 joins the\n"
                  "one-row calls of concurrent threads into one decode batch of up to N rows (continuous\n"
                  "batching; on_step then runs on the batch's thread); on_progress(fraction, stage).\n"
                  "The other keywords are regionlm::LoadOptions' fields. Raises IoError, ConfigError,\n"
                  "FormatError or WeightError.")
      .def(
          "encode",
          [](const Model& model, ModelImageArg image) {
            const ImageArgument input = image_argument(image);
            nb::gil_scoped_release release;
            return encoded(model, input);
          },
          nb::arg("image"),
          "Runs the vision trunk once: `image` is a path or an H x W x 3 uint8 RGB array (read in\n"
          "place, not copied). ArgumentError for an unusable array, IoError / FormatError for a file.")
      .def("describe", &describe, nb::arg("image"), nb::arg("regions"), nb::arg("prompt") = nb::none(),
           REGIONLM_GENERATION_ARGS,
           (std::string("Answers `prompt` about `regions` of the image (an EncodedImage, a path or an\n"
                        "H x W x 3 uint8 array). The prompt names regions with <region> (the next one) or\n"
                        "<region1>..<regionN>; None = the model's description question (default_prompt).\n") +
            kGenerationDoc)
               .c_str())
      .def("describe_each", &describe_each, nb::arg("image"), nb::arg("regions"), nb::arg("prompt") = nb::none(),
           REGIONLM_GENERATION_ARGS,
           (std::string("Asks the same question (one placeholder) of every region: one batched decode, one\n"
                        "Answer per region in order, equal to describe(image, [region], prompt).\n") +
            kGenerationDoc)
               .c_str())
      .def(
          "chat",
          [](const Model& model, ModelImageArg image, const std::vector<Region>& regions) {
            const ImageArgument input = image_argument(image);
            nb::gil_scoped_release release;
            return Chat{model.chat(encoded(model, input), regions)};
          },
          nb::arg("image"), nb::arg("regions"), "A multi-turn conversation about the image and its regions.")
      .def(
          "tokenize",
          [](const Model& model, const std::string& text, bool add_bos) {
            return vector_to_numpy(model.tokenizer().encode(text, add_bos));
          },
          nb::arg("text"), nb::arg("add_bos") = false, "Token ids of `text` (int64 array).")
      .def(
          "detokenize",
          [](const Model& model, const std::vector<int64_t>& ids, bool skip_special) {
            return model.tokenizer().decode(ids, skip_special);
          },
          nb::arg("ids"), nb::arg("skip_special") = true, "Text of token ids.")
      .def_prop_ro(
          "batch_stats",
          [](const Model& model) {
            const llm::BatcherStats stats = model.batch_stats();
            nb::dict out;
            out["requests"] = stats.requests;
            out["steps"] = stats.steps;
            out["row_steps"] = stats.row_steps;
            out["largest_step"] = stats.largest_step;
            return out;
          },
          "What the continuous batch has done (batch_rows > 1): requests, steps, row_steps, largest_step.")
      .def_prop_ro(
          "family", [](const Model& model) { return to_string(model.family()); }, "'osprey' or 'gpt4roi'.")
      .def_prop_ro(
          "device", [](const Model& model) { return device_text(model.device()); }, "e.g. 'cpu', 'cuda:0'.")
      .def_prop_ro(
          "dtype", [](const Model& model) { return dtype_name(model.dtype()); },
          "dtype of the vision trunk, projector and decoder.")
      .def_prop_ro("image_token_count", &Model::image_token_count, "Image tokens one image contributes to a prompt.")
      .def_prop_ro(
          "context_length", [](const Model& model) { return model.decoder_config().max_position_embeddings; },
          "The decoder's context, positions.")
      .def_prop_ro("default_prompt", &default_prompt,
                   "The question describe uses without a prompt (Osprey's short description, GPT4RoI's\n"
                   "detailed one).")
      .def_prop_ro("image_prefix", &Model::image_prefix, "Text before the first question.")
      .def_prop_ro("conversation_template", &Model::conversation_template, "Conversation template name.")
      .def_prop_ro("unused_keys", &Model::unused_keys, "Checkpoint keys no module used.")
      .def("__repr__", [](const Model& model) {
        return std::string("<regionlm.Model ") + to_string(model.family()) + " on " + device_text(model.device()) +
               ", " + dtype_name(model.dtype()) + ">";
      });
}

}  // namespace regionlm::python
