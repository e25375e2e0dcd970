// regionlm-server over loopback, endpoint by endpoint, against the library: every answer equals
// Model::describe / describe_each / ChatSession on the same inputs, streamed chunks concatenate
// to the non-streamed answer, SAM endpoints equal sam::Sam, and the official `openai` Python
// client works unmodified. One server (tiny-shapes + a small random-weight SAM) serves all cases.
#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "regionlm/model.hpp"
#include "regionlm/region/rle.hpp"
#include "regionlm/sam/automatic_mask_generator.hpp"
#include "regionlm/sam/sam.hpp"
#include "regionlm/sam/scribble.hpp"
#include "regionlm/som/mark_references.hpp"
#include "regionlm/vision/image.hpp"
#include "sam_test_util.hpp"
#include "server_test_util.hpp"
#include "test_util.hpp"

using json = nlohmann::json;
using namespace regionlm;
using namespace regionlm::server::test;

namespace {

/// The server, the library objects the answers are compared with, and the scene.
struct World {
  std::filesystem::path sam_dir = sam::test::reference_model("vit-amg");
  std::unique_ptr<ServerProcess> server;
  Model model = Model::load(model_dir());
  sam::Sam segmenter = sam::Sam::load(sam_dir);
  cv::Mat rgb = vision::load_image(scene_dir() / "image.png");
  std::string image_url = data_url(read_file(scene_dir() / "image.png"));
  EncodedImage encoded = model.encode(rgb);
  std::vector<cv::Mat> masks;  // mask_k.png as 0/1

  World() {
    for (int k = 0; k < 4; ++k) {
      cv::Mat m = cv::imread((scene_dir() / ("mask_" + std::to_string(k) + ".png")).string(), cv::IMREAD_GRAYSCALE);
      masks.push_back(m > 0);
      masks.back() /= 255;
    }
    server = std::make_unique<ServerProcess>(
        std::vector<std::string>{"--model", model_dir().string(), "--sam", sam_dir.string(), "--threads", "2",
                                 "--pred-iou-thresh", "0.85", "--box-nms-thresh", "0.6"},
        "api");
  }
};

World& world() {
  static World w;
  return w;
}

json user_message(const std::string& text, bool with_image = true) {
  json content = json::array();
  if (with_image) content.push_back({{"type", "image_url"}, {"image_url", {{"url", world().image_url}}}});
  content.push_back({{"type", "text"}, {"text", text}});
  return {{"role", "user"}, {"content", content}};
}

json chat_body(const std::string& question, const json& regions, json extra = json::object()) {
  json body = {{"model", "tiny-shapes"}, {"messages", json::array({user_message(question)})}, {"regions", regions}};
  body.update(extra);
  return body;
}

json rle_region(const cv::Mat& mask) { return {{"mask", {{"size", {mask.rows, mask.cols}}, {"counts", rle_encode(mask)}}}}; }

std::string finish_reason(StopReason r) { return r == StopReason::Length ? "length" : "stop"; }

/// Streams the same request and checks the chunks against the non-streamed completion.
void expect_stream_matches(const json& body, const json& completion) {
  auto client = world().server->client();
  json streamed = body;
  streamed["stream"] = true;
  const Reply reply = post(*client, "/v1/chat/completions", streamed);
  ASSERT_EQ(reply.status, 200) << reply.body;
  EXPECT_NE(reply.header("Content-Type").find("text/event-stream"), std::string::npos);
  const auto events = sse_events(reply.body);
  ASSERT_GE(events.size(), 3u) << reply.body;
  EXPECT_EQ(events.back(), "[DONE]");
  std::string text;
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    const json chunk = json::parse(events[i]);
    EXPECT_EQ(chunk["object"], "chat.completion.chunk");
    EXPECT_EQ(chunk["model"], "tiny-shapes");
    ASSERT_EQ(chunk["choices"].size(), 1u);
    const json& choice = chunk["choices"][0];
    if (i == 0) {
      EXPECT_EQ(choice["delta"]["role"], "assistant");
    }
    if (choice["delta"].contains("content")) text += choice["delta"]["content"].get<std::string>();
    if (i + 2 < events.size()) {
      EXPECT_TRUE(choice["finish_reason"].is_null());
    } else {
      EXPECT_EQ(choice["finish_reason"], completion["choices"][0]["finish_reason"]);
    }
  }
  EXPECT_EQ(text, completion["choices"][0]["message"]["content"].get<std::string>());
}

/// Asks over HTTP (non-streamed and streamed) and compares with Model::describe.
void expect_chat_equals_library(const std::string& question, const json& regions_json,
                                const std::vector<Region>& regions, const GenerationOptions& options = {},
                                json extra = json::object()) {
  SCOPED_TRACE(question + " " + regions_json.dump().substr(0, 120));
  const json body = chat_body(question, regions_json, extra);
  auto client = world().server->client();
  const Reply reply = post(*client, "/v1/chat/completions", body);
  ASSERT_EQ(reply.status, 200) << reply.body;
  const json completion = reply.json();
  const Answer expected = world().model.describe(world().encoded, regions, question, options);
  EXPECT_EQ(completion["object"], "chat.completion");
  EXPECT_TRUE(completion["id"].get<std::string>().rfind("chatcmpl-", 0) == 0);
  EXPECT_EQ(completion["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(completion["choices"][0]["message"]["content"], expected.text);
  json mentions = json::array();
  for (const RegionMention& m : expected.mentions) {
    mentions.push_back({{"region", m.region + 1}, {"offset", m.offset}, {"length", m.length}});
  }
  EXPECT_EQ(completion["choices"][0]["message"]["mentions"], mentions);
  EXPECT_EQ(completion["choices"][0]["message"]["notes"], json(expected.notes));
  EXPECT_EQ(completion["choices"][0]["finish_reason"], finish_reason(expected.stop_reason));
  const json& usage = completion["usage"];
  EXPECT_EQ(usage["prompt_tokens"], expected.timings.prompt_tokens);
  EXPECT_EQ(usage["completion_tokens"], expected.timings.generated_tokens);
  EXPECT_EQ(usage["total_tokens"], expected.timings.prompt_tokens + expected.timings.generated_tokens);
  EXPECT_EQ(usage["prompt_tokens_details"]["image_tokens"], world().model.image_token_count());
  int64_t region_positions = 0;
  for (const auto& chunk : world().model.layout(question, static_cast<int64_t>(regions.size())).chunks) {
    if (chunk.kind == text::Chunk::Kind::Region) region_positions += chunk.length;
  }
  EXPECT_EQ(usage["prompt_tokens_details"]["region_tokens"], region_positions);
  expect_stream_matches(body, completion);
}

TEST(ServerApi, HealthModelsAndPage) {
  auto client = world().server->client();
  const Reply health = get(*client, "/health");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.json(), json({{"status", "ok"}}));
  const json models = get(*client, "/v1/models").json();
  EXPECT_EQ(models["object"], "list");
  ASSERT_EQ(models["data"].size(), 1u);
  EXPECT_EQ(models["data"][0]["id"], "tiny-shapes");
  EXPECT_EQ(models["data"][0]["meta"]["sam"], true);
  EXPECT_EQ(models["data"][0]["meta"]["family"], "osprey");
  EXPECT_EQ(models["data"][0]["meta"]["context_length"], 512);
  const Reply page = get(*client, "/");
  EXPECT_EQ(page.status, 200);
  EXPECT_NE(page.header("Content-Type").find("text/html"), std::string::npos);
  EXPECT_NE(page.body.find("/app.js"), std::string::npos);
  EXPECT_NE(page.body.find("<canvas"), std::string::npos);
  // Nothing outside this server is referenced by the page.
  for (const char* path : {"/", "/app.js", "/style.css"}) {
    const std::string text = get(*client, path).body;
    EXPECT_EQ(text.find("http://"), std::string::npos) << path;
    EXPECT_EQ(text.find("https://"), std::string::npos) << path;
  }
  const Reply scene = get(*client, "/scene.png");
  EXPECT_EQ(scene.status, 200);
  EXPECT_EQ(scene.body, read_file(scene_dir() / "image.png"));
}

TEST(ServerApi, ChatEqualsDescribeForEveryRegionKind) {
  const auto& w = world();
  const cv::Mat& m0 = w.masks[0];
  // COCO RLE as a compressed string.
  expect_chat_equals_library("What is <region1>?", json::array({rle_region(m0)}), {Region::from_mask(m0)});
  // COCO RLE as uncompressed run lengths.
  const auto counts = rle_counts(w.masks[1]);
  expect_chat_equals_library("What is <region1>?",
                             json::array({{{"mask", {{"size", {256, 256}}, {"counts", counts}}}}}),
                             {Region::from_rle(counts, 256, 256)});
  // A mask PNG (255 = inside), with and without the data: prefix.
  const std::string png = read_file(scene_dir() / "mask_2.png");
  expect_chat_equals_library("What is <region1>?", json::array({{{"mask_png", data_url(png).substr(22)}}}),
                             {Region::from_mask(w.masks[2])});
  expect_chat_equals_library("What is <region>?", json::array({{{"mask_png", data_url(png)}}}),
                             {Region::from_mask(w.masks[2])});
  // A box, far corner exclusive.
  expect_chat_equals_library("What is <region1>?", json::array({{{"box", {60, 90, 150, 220}}}}),
                             {Region::from_box(60, 90, 150, 220)});
  // Two regions in one question, and a question naming one of three (Osprey's header).
  expect_chat_equals_library("Is <region1> left of <region2>?", json::array({rle_region(m0), rle_region(w.masks[1])}),
                             {Region::from_mask(m0), Region::from_mask(w.masks[1])});
  expect_chat_equals_library(
      "Are <region1> and <region2> the same color?", json::array({rle_region(w.masks[3]), rle_region(w.masks[2])}),
      {Region::from_mask(w.masks[3]), Region::from_mask(w.masks[2])});
  expect_chat_equals_library("What is <region2>?",
                             json::array({rle_region(m0), rle_region(w.masks[1]), rle_region(w.masks[3])}),
                             {Region::from_mask(m0), Region::from_mask(w.masks[1]), Region::from_mask(w.masks[3])});
}

TEST(ServerApi, GenerationOptionsAreHonoured) {
  const auto& w = world();
  const json regions = json::array({rle_region(w.masks[1])});
  const std::vector<Region> library = {Region::from_mask(w.masks[1])};
  GenerationOptions sampled;
  sampled.temperature = 1.5f;
  sampled.top_k = 40;
  sampled.top_p = 0.95f;
  sampled.seed = 1234;
  sampled.max_new_tokens = 24;
  expect_chat_equals_library("Describe <region1> in detail.", regions, library, sampled,
                             {{"temperature", 1.5}, {"top_k", 40}, {"top_p", 0.95}, {"seed", 1234}, {"max_tokens", 24}});
  GenerationOptions short_answer;
  short_answer.max_new_tokens = 2;
  expect_chat_equals_library("What is <region1>?", regions, library, short_answer, {{"max_tokens", 2}});
  const Answer full = w.model.describe(w.encoded, library, "What is <region1>?");
  const size_t space = full.text.find(' ');
  ASSERT_NE(space, std::string::npos) << full.text;
  GenerationOptions stopped;
  stopped.stop_strings = {full.text.substr(space, 2)};
  expect_chat_equals_library("What is <region1>?", regions, library, stopped, {{"stop", full.text.substr(space, 2)}});
  GenerationOptions penalised;
  penalised.repetition_penalty = 1.3f;
  expect_chat_equals_library("What is <region1>?", regions, library, penalised, {{"repetition_penalty", 1.3}});
}

TEST(ServerApi, StreamWithUsageChunk) {
  const auto& w = world();
  const json body = chat_body("What is <region1>?", json::array({rle_region(w.masks[0])}),
                              {{"stream", true}, {"stream_options", {{"include_usage", true}}}});
  auto client = w.server->client();
  const Reply reply = post(*client, "/v1/chat/completions", body);
  ASSERT_EQ(reply.status, 200) << reply.body;
  const auto events = sse_events(reply.body);
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events.back(), "[DONE]");
  const json last = json::parse(events[events.size() - 2]);
  EXPECT_TRUE(last["choices"].empty());
  const Answer expected = w.model.describe(w.encoded, {Region::from_mask(w.masks[0])}, "What is <region1>?");
  EXPECT_EQ(last["usage"]["completion_tokens"], expected.timings.generated_tokens);
  EXPECT_EQ(last["usage"]["prompt_tokens"], expected.timings.prompt_tokens);
  EXPECT_TRUE(json::parse(events[0])["usage"].is_null());
}

TEST(ServerApi, EarlierTurnsAreAChat) {
  const auto& w = world();
  const std::vector<Region> regions = {Region::from_mask(w.masks[0]), Region::from_mask(w.masks[2])};
  ChatSession session = w.model.chat(w.encoded, regions);
  const std::string q1 = "What is <region1>?", q2 = "Is <region1> left of <region2>?", q3 = "What is <region2>?";
  const Answer a1 = session.ask(q1);
  const Answer a2 = session.ask(q2);
  const Answer a3 = session.ask(q3);
  json body = {{"messages", json::array({user_message(q1),
                                         {{"role", "assistant"}, {"content", a1.text}},
                                         {{"role", "user"}, {"content", q2}},
                                         {{"role", "assistant"}, {"content", json::array({{{"type", "text"}, {"text", a2.text}}})}},
                                         {{"role", "user"}, {"content", json::array({{{"type", "text"}, {"text", q3}}})}}})},
               {"regions", json::array({rle_region(w.masks[0]), rle_region(w.masks[2])})}};
  auto client = w.server->client();
  const Reply reply = post(*client, "/v1/chat/completions", body);
  ASSERT_EQ(reply.status, 200) << reply.body;
  const json completion = reply.json();
  EXPECT_EQ(completion["choices"][0]["message"]["content"], a3.text);
  EXPECT_EQ(completion["usage"]["completion_tokens"], a3.timings.generated_tokens);
  expect_stream_matches(body, completion);
}

TEST(ServerApi, ImageCacheSkipsVisionAndSamEncoding) {
  const auto& w = world();
  cv::Mat flipped;
  cv::flip(w.rgb, flipped, 1);  // an image no other test sends
  cv::Mat bgr;
  cv::cvtColor(flipped, bgr, cv::COLOR_RGB2BGR);
  const std::string url = data_url(png_bytes(bgr));
  json body = chat_body("What is <region1>?", json::array({{{"box", {10, 10, 120, 120}}}}));
  body["messages"][0]["content"][0]["image_url"]["url"] = url;
  auto client = w.server->client();
  const json first = post(*client, "/v1/chat/completions", body).json();
  const json second = post(*client, "/v1/chat/completions", body).json();
  EXPECT_EQ(first["timings"]["image_cache"], "miss");
  EXPECT_GT(first["timings"]["encode_ms"].get<double>(), 0.0);
  EXPECT_EQ(second["timings"]["image_cache"], "hit");
  EXPECT_EQ(second["timings"]["encode_ms"].get<double>(), 0.0);
  EXPECT_EQ(first["choices"][0]["message"]["content"], second["choices"][0]["message"]["content"]);
  EXPECT_EQ(first["choices"][0]["message"]["content"],
            w.model.describe(w.model.encode(flipped), {Region::from_box(10, 10, 120, 120)}, "What is <region1>?").text);
  const json segment_body = {{"image", url}, {"points", {{30, 40, 1}}}};
  const json s1 = post(*client, "/v1/segment", segment_body).json();
  const json s2 = post(*client, "/v1/segment", segment_body).json();
  EXPECT_GT(s1["timings"]["sam_encode_ms"].get<double>(), 0.0);
  EXPECT_EQ(s2["timings"]["sam_encode_ms"].get<double>(), 0.0);
  EXPECT_EQ(s1["masks"], s2["masks"]);
}

TEST(ServerApi, DescribeRegionsIsOneBatchedCall) {
  const auto& w = world();
  const std::vector<Region> regions = {Region::from_mask(w.masks[0]), Region::from_box(60, 90, 150, 220),
                                       Region::from_mask(w.masks[3])};
  const json body = {{"image", w.image_url},
                     {"regions", json::array({rle_region(w.masks[0]), {{"box", {60, 90, 150, 220}}}, rle_region(w.masks[3])})}};
  auto client = w.server->client();
  const Reply reply = post(*client, "/v1/regions/describe", body);
  ASSERT_EQ(reply.status, 200) << reply.body;
  const json result = reply.json();
  const auto expected = w.model.describe_each(w.encoded, regions, prompts::kShortDescription);
  ASSERT_EQ(result["regions"].size(), expected.size());
  int64_t completion = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    const json& r = result["regions"][i];
    EXPECT_EQ(r["id"], i + 1);
    EXPECT_EQ(r["text"], expected[i].text);
    EXPECT_EQ(r["refers_to"], json(som::referenced_marks(expected[i].text, static_cast<int>(expected.size()))));
    EXPECT_EQ(r["notes"], json(expected[i].notes));
    const cv::Mat mask = regions[i].rasterize(256, 256);
    EXPECT_EQ(r["rle"]["counts"], rle_encode(mask));
    EXPECT_EQ(r["rle"]["size"], json({256, 256}));
    const cv::Rect box = cv::boundingRect(mask);
    EXPECT_EQ(r["bbox"], json({box.x, box.y, box.width, box.height}));
    completion += expected[i].timings.generated_tokens;
  }
  EXPECT_EQ(result["usage"]["completion_tokens"], completion);
  // A custom prompt with one placeholder.
  const json custom = post(*client, "/v1/regions/describe",
                           {{"image", w.image_url}, {"regions", json::array({rle_region(w.masks[1])})},
                            {"prompt", "What color is <region>?"}})
                          .json();
  EXPECT_EQ(custom["regions"][0]["text"],
            w.model.describe_each(w.encoded, {Region::from_mask(w.masks[1])}, "What color is <region>?")[0].text);
}

TEST(ServerApi, DescribeEverythingUsesSamAutomaticMasks) {
  const auto& w = world();
  auto client = w.server->client();
  const Reply reply = post(*client, "/v1/regions/describe", {{"image", w.image_url}, {"everything", true}, {"max_tokens", 16}});
  ASSERT_EQ(reply.status, 200) << reply.body;
  const json result = reply.json();
  std::vector<Region> regions;
  std::vector<std::string> rles;
  sam::AutomaticMaskOptions generator;  // the server's --pred-iou-thresh and --box-nms-thresh
  generator.pred_iou_thresh = 0.85;
  generator.box_nms_thresh = 0.6;
  for (const auto& m : sam::generate_masks(w.segmenter, w.rgb, generator)) {
    regions.push_back(m.region());
    rles.push_back(rle_encode(m.segmentation));
  }
  ASSERT_FALSE(regions.empty());
  GenerationOptions options;
  options.max_new_tokens = 16;
  const auto expected = w.model.describe_each(w.encoded, regions, prompts::kShortDescription, options);
  ASSERT_EQ(result["regions"].size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(result["regions"][i]["text"], expected[i].text) << i;
    EXPECT_EQ(result["regions"][i]["rle"]["counts"], rles[i]) << i;
  }
}

void expect_segment_equals_library(const json& request, const sam::Prompt& prompt) {
  const auto& w = world();
  SCOPED_TRACE(request.dump());
  json body = request;
  body["image"] = w.image_url;
  auto client = w.server->client();
  const Reply reply = post(*client, "/v1/segment", body);
  ASSERT_EQ(reply.status, 200) << reply.body;
  const json result = reply.json();
  const sam::Masks masks = w.segmenter.predict(w.segmenter.encode(w.rgb), prompt);
  const auto order = masks.order();
  ASSERT_EQ(result["masks"].size(), order.size());
  EXPECT_EQ(result["size"], json({256, 256}));
  for (size_t i = 0; i < order.size(); ++i) {
    const json& m = result["masks"][i];
    EXPECT_EQ(m["rle"]["counts"], rle_encode(masks.mask(order[i]))) << i;
    EXPECT_NEAR(m["score"].get<double>(), masks.iou_predictions[order[i]].item<double>(), 1e-6);
    EXPECT_EQ(m["area"], cv::countNonZero(masks.mask(order[i])));
  }
}

TEST(ServerApi, SegmentEqualsSam) {
  sam::Prompt clicks;
  clicks.points = {{120, 150, 1}, {40, 30, 0}};
  expect_segment_equals_library({{"points", {{120, 150, 1}, {40, 30, 0}}}}, clicks);
  sam::Prompt box;
  box.box = sam::Box{60, 90, 150, 220};
  expect_segment_equals_library({{"box", {60, 90, 150, 220}}}, box);
  sam::Prompt scribble;
  scribble.points = sam::scribble_points(std::vector<cv::Point2d>{{50, 50}, {90, 70}, {130, 60}}, 1);
  expect_segment_equals_library({{"scribble", {{50, 50}, {90, 70}, {130, 60}}}}, scribble);
}

// With refinement passes the endpoint returns the one mask a point region gets.
TEST(ServerApi, SegmentWithRefinementIsTheBestMask) {
  const auto& w = world();
  ASSERT_EQ(w.segmenter.config().refinement_passes, 0);
  sam::Prompt click;
  click.points = {{120, 150, 1}};
  auto client = w.server->client();
  const Reply reply =
      post(*client, "/v1/segment", {{"image", w.image_url}, {"points", {{120, 150, 1}}}, {"refinement_passes", 2}});
  ASSERT_EQ(reply.status, 200) << reply.body;
  const json result = reply.json();
  const sam::Masks refined = w.segmenter.best_mask(w.segmenter.encode(w.rgb), click, {.refinement_passes = 2});
  ASSERT_EQ(result["masks"].size(), 1u);
  EXPECT_EQ(result["masks"][0]["rle"]["counts"], rle_encode(refined.mask(0)));
  EXPECT_NEAR(result["masks"][0]["score"].get<double>(), refined.iou_predictions[0].item<double>(), 1e-6);
  const sam::Masks candidates = w.segmenter.predict(w.segmenter.encode(w.rgb), click);
  EXPECT_NE(result["masks"][0]["rle"]["counts"], rle_encode(candidates.mask(candidates.best())))
      << "the refined mask equals the unrefined one: this test would not see the passes dropped";
}

TEST(ServerApi, PointAndScribbleRegionsAreSamMasks) {
  const auto& w = world();
  const sam::SamImage image = w.segmenter.encode(w.rgb);
  const auto best = [&](const sam::Prompt& p) { return w.segmenter.best_mask(image, p).region(0); };
  sam::Prompt clicks;
  clicks.points = {{100, 140, 1}, {30, 30, 0}};
  sam::Prompt scribble;
  scribble.points = sam::scribble_points(std::vector<cv::Point2d>{{150, 60}, {180, 90}}, 1);
  expect_chat_equals_library("Is <region1> left of <region2>?",
                             json::array({{{"points", {{100, 140, 1}, {30, 30, 0}}}}, {{"scribble", {{150, 60}, {180, 90}}}}}),
                             {best(clicks), best(scribble)});
}

TEST(ServerApi, OpenAIPythonClientWorksUnmodified) {
  const auto& w = world();
  const std::string script = (regionlm::test::source_dir() / "examples/server/client.py").string();
  const auto [code, output] = regionlm::test::run_command(
      regionlm::test::shell_quote(regionlm::test::python()) + " " + regionlm::test::shell_quote(script) +
      " --base-url http://127.0.0.1:" + std::to_string(w.server->port()) + "/v1 --image " +
      regionlm::test::shell_quote((scene_dir() / "image.png").string()) + " --mask " +
      regionlm::test::shell_quote((scene_dir() / "mask_2.png").string()) + " --json 2>&1");
  ASSERT_EQ(code, 0) << output;
  const json result = json::parse(output.substr(output.find('{')));
  const Answer expected = w.model.describe(w.encoded, {Region::from_mask(w.masks[2])}, "What is <region1>?");
  EXPECT_EQ(result["model"], "tiny-shapes");
  EXPECT_EQ(result["answer"], expected.text);
  EXPECT_EQ(result["streamed"], expected.text);
  EXPECT_EQ(result["finish_reason"], "stop");
  EXPECT_EQ(result["completion_tokens"], expected.timings.generated_tokens);
}

}  // namespace
