// Load: 16 concurrent clients x 25 requests each on 127.0.0.1 against one regionlm-server
// (tiny-shapes, short answers), 8 workers whose generations share one continuous decode batch
// (--batch 8). No request may fail, and every answer must equal the answer the same request
// got when sent alone (which equals Model::describe). Prints p50/p99 latency
// and throughput (a measurement, not a pass criterion).
#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>

#include <algorithm>
#include <barrier>
#include <chrono>
#include <cstdio>
#include <thread>

#include "regionlm/model.hpp"
#include "regionlm/region/rle.hpp"
#include "regionlm/vision/image.hpp"
#include "server_test_util.hpp"

using json = nlohmann::json;
using namespace regionlm;
using namespace regionlm::server::test;

namespace {

constexpr int kClients = 16;
constexpr int kRequestsPerClient = 25;

TEST(ServerLoad, SixteenClientsGetTheSequentialAnswers) {
  ServerProcess server({"--model", model_dir().string(), "--batch", "8", "--threads", "8", "--max-queue", "64"}, "load");
  const Model model = Model::load(model_dir());
  const cv::Mat rgb = vision::load_image(scene_dir() / "image.png");
  const EncodedImage image = model.encode(rgb);
  const std::string url = data_url(read_file(scene_dir() / "image.png"));

  // Eight distinct requests: four regions x two questions, short answers.
  std::vector<json> bodies;
  std::vector<std::string> library;
  const std::vector<std::string> questions = {"What is <region1>?", "What color is <region1>?"};
  for (int k = 0; k < 4; ++k) {
    cv::Mat mask = cv::imread((scene_dir() / ("mask_" + std::to_string(k) + ".png")).string(), cv::IMREAD_GRAYSCALE);
    mask = (mask > 0) / 255;
    for (const std::string& q : questions) {
      bodies.push_back({{"messages", json::array({{{"role", "user"},
                                                   {"content", json::array({{{"type", "image_url"}, {"image_url", {{"url", url}}}},
                                                                            {{"type", "text"}, {"text", q}}})}}})},
                        {"regions", json::array({{{"mask", {{"size", {256, 256}}, {"counts", rle_encode(mask)}}}}})},
                        {"max_tokens", 8}});
      GenerationOptions options;
      options.max_new_tokens = 8;
      library.push_back(model.describe(image, {Region::from_mask(mask)}, q, options).text);
    }
  }

  // Sequential answers first.
  std::vector<std::string> sequential;
  {
    auto client = server.client();
    for (size_t i = 0; i < bodies.size(); ++i) {
      const Reply reply = post(*client, "/v1/chat/completions", bodies[i]);
      ASSERT_EQ(reply.status, 200) << reply.body;
      sequential.push_back(reply.json()["choices"][0]["message"]["content"]);
      EXPECT_EQ(sequential.back(), library[i]) << i;
    }
  }

  std::vector<std::vector<double>> latencies(kClients);
  std::vector<std::vector<std::string>> failures(kClients);
  std::barrier start(kClients + 1);
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      auto client = server.client();
      start.arrive_and_wait();
      for (int r = 0; r < kRequestsPerClient; ++r) {
        const size_t which = static_cast<size_t>(c * 7 + r) % bodies.size();
        const auto t0 = std::chrono::steady_clock::now();
        auto result = client->Post("/v1/chat/completions", bodies[which].dump(), "application/json");
        latencies[c].push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
        if (!result) {
          failures[c].push_back("transport error " + httplib::to_string(result.error()));
        } else if (result->status != 200) {
          failures[c].push_back("status " + std::to_string(result->status) + ": " + result->body);
        } else {
          const json reply = json::parse(result->body);
          if (reply["choices"][0]["message"]["content"] != sequential[which]) {
            failures[c].push_back("request " + std::to_string(which) + " answered " + reply.dump());
          }
        }
      }
    });
  }
  start.arrive_and_wait();
  const auto t0 = std::chrono::steady_clock::now();
  for (auto& t : clients) t.join();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  std::vector<double> all;
  for (int c = 0; c < kClients; ++c) {
    for (const auto& f : failures[c]) ADD_FAILURE() << "client " << c << ": " << f;
    all.insert(all.end(), latencies[c].begin(), latencies[c].end());
  }
  ASSERT_EQ(all.size(), static_cast<size_t>(kClients * kRequestsPerClient));
  std::sort(all.begin(), all.end());
  const auto percentile = [&](double p) { return all[std::min(all.size() - 1, static_cast<size_t>(p * all.size()))]; };
  std::printf("load: %d clients x %d requests (8 distinct, max_tokens 8, --batch 8 --threads 8): p50 %.1f ms, p99 %.1f ms, "
              "%.1f requests/s, %.1f s\n",
              kClients, kRequestsPerClient, percentile(0.50), percentile(0.99), all.size() / seconds, seconds);
  EXPECT_EQ(server.stop(SIGTERM), 0);
}

}  // namespace
