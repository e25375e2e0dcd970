#include "server/server_app.hpp"

#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <thread>

#include "common/arguments.hpp"
#include "common/options.hpp"
#include "regionlm/model.hpp"
#include "regionlm/sam/sam.hpp"
#include "server/http_server.hpp"
#include "server/image_cache.hpp"
#include "server/inference.hpp"

namespace regionlm::examples {

namespace {

constexpr const char* kProgram = "regionlm-server";

/// Bytes the library keeps per encoded image for its reused image prefix (LoadOptions::
/// reuse_image_prefix): layers x (key + value) x prefix positions x kv width x element size.
size_t prefix_state_bytes(const Model& model) {
  const LlamaConfig& c = model.decoder_config();
  const int64_t positions = model.layout("", 0).length;
  const int64_t element = torch::elementSize(model.dtype());
  return static_cast<size_t>(c.num_hidden_layers * 2 * positions * c.num_key_value_heads * c.head_dim() * element);
}

}  // namespace

int server_main(int argc, char** argv) {
  // SIGINT/SIGTERM are taken by one thread (sigwait) that stops the server; every other
  // thread inherits the blocked mask. SIGPIPE from a vanished client is ignored.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  try {
    std::string model_dir, sam_path, device, dtype;
    server::ServerOptions options;
    int64_t batch = 8, threads = 0;
    int64_t port = options.port, max_queue = static_cast<int64_t>(options.max_queue);
    int64_t cache_mb = static_cast<int64_t>(options.image_cache_mb);
    float timeout = static_cast<float>(options.timeout_s);
    int64_t body_mb = static_cast<int64_t>(options.max_body_mb), read_timeout = options.read_timeout_s;
    ArgumentParser parser(kProgram,
                          "Serves an Osprey-architecture model over HTTP: an OpenAI-style chat API whose requests\n"
                          "carry regions, region description, Segment Anything, and a web page at /.");
    parser.option("model", "DIR", "model directory (config.json, tokenizer.model, weights)", &model_dir, true);
    parser.option("sam", "PATH", "Segment Anything weights (file or directory): enables points, scribbles, "
                  "/v1/segment and \"everything\"", &sam_path);
    sam::AutomaticMaskOptions everything;  // "everything"'s generator
    add_automatic_mask_options(parser, everything);
    parser.option("host", "ADDR", "address to listen on (default 127.0.0.1: this machine only)", &options.host);
    parser.option("port", "N", "port (default 8080; 0 = any free port)", &port);
    parser.option("threads", "N", "requests answered at once (default: --batch, at least 2)", &threads);
    parser.option("batch", "N",
                  "answers decoded together: concurrent requests join one decode batch of up to N rows "
                  "between its steps (continuous batching; default 8; 1 = each request decodes alone)",
                  &batch);
    parser.option("max-queue", "N", "requests waiting beyond those; more get 429 (default 16)", &max_queue);
    parser.option("api-key", "KEY", "require \"Authorization: Bearer KEY\" on /v1/* (default: none)", &options.api_key);
    parser.option("image-cache-mb", "N", "memory for cached images and their features, MiB (default 512; 0 = off)",
                  &cache_mb);
    parser.option("timeout", "SEC", "longest time one request may take, queueing included; fractions allowed (default 300)",
                  &timeout);
    parser.option("max-body-mb", "N", "largest request body, MiB; larger get 413 (default 32)", &body_mb);
    parser.option("read-timeout", "SEC", "how long a client may stall while sending a request (default 10)",
                  &read_timeout);
    parser.option("device", "DEV", "cpu, cuda or cuda:N (default: cuda when available)", &device);
    parser.option("dtype", "TYPE", "float32, bfloat16 or float16 (default: bfloat16 on CUDA, float32 on CPU)", &dtype);
    if (!parser.parse(argc, argv)) return 0;
    const auto check = [](int64_t v, int64_t lo, int64_t hi, const char* flag) {
      if (v < lo || v > hi) {
        throw UsageError(std::string(flag) + " must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
      }
      return v;
    };
    options.port = static_cast<int>(check(port, 0, 65535, "--port"));
    check(batch, 1, 256, "--batch");
    options.threads = static_cast<int>(threads == 0 ? std::max<int64_t>(2, batch) : check(threads, 1, 256, "--threads"));
    options.max_queue = static_cast<size_t>(check(max_queue, 0, 4096, "--max-queue"));
    options.image_cache_mb = static_cast<size_t>(check(cache_mb, 0, 1 << 20, "--image-cache-mb"));
    if (!(timeout >= 0.001f && timeout <= 86400.f)) throw UsageError("--timeout must be in [0.001, 86400] seconds");
    options.timeout_s = timeout;
    options.max_body_mb = static_cast<size_t>(check(body_mb, 1, 4096, "--max-body-mb"));
    options.read_timeout_s = static_cast<int>(check(read_timeout, 1, 3600, "--read-timeout"));

    LoadOptions load;
    load.device = device;
    load.dtype = dtype;
    load.batch_rows = batch;
    const Model model = Model::load(model_dir, load);
    std::optional<sam::Sam> segmenter;
    if (!sam_path.empty()) {
      sam::SamLoadOptions sam_options;
      sam_options.device = model.device();
      segmenter = sam::Sam::load(sam_path, sam_options);
    }
    server::ImageCache cache(options.image_cache_mb << 20, prefix_state_bytes(model));
    std::string model_id = std::filesystem::path(model_dir).lexically_normal().filename().string();
    if (model_id.empty()) model_id = std::filesystem::path(model_dir).lexically_normal().parent_path().filename().string();
    const server::Backend backend{model, std::move(segmenter), everything, model_id, cache};

    server::HttpServer http(backend, options);
    const int bound = http.bind();

    std::atomic<bool> finished{false};
    std::thread signals([&] {
      int signal_number = 0;
      sigwait(&stop_signals, &signal_number);
      if (finished) return;
      std::fprintf(stderr, "%s: signal %d: finishing the requests in flight\n", kProgram, signal_number);
      // stop() before listen() has started is lost: repeat until the server is down.
      while (!finished) {
        http.stop();
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    });

    std::cout << "listening on http://" << options.host << ":" << bound << std::endl;
    http.listen();
    finished = true;
    pthread_kill(signals.native_handle(), SIGTERM);  // wakes sigwait when no signal came
    signals.join();
    std::fprintf(stderr, "%s: stopped\n", kProgram);
    return 0;
  } catch (const std::exception& e) {
    return report_error(kProgram, e);
  }
}

}  // namespace regionlm::examples
