// Writes a small safetensors file, reads it back through the installed library and prints
// what it found; check_package.cmake compares the output.
#include <regionlm/io/weights.hpp>
#include <regionlm/version.hpp>
#include <torch/torch.h>

#include <iostream>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: downstream FILE.safetensors\n";
    return 2;
  }
  regionlm::save_safetensors(argv[1], {{"w", torch::arange(6, torch::kFloat32).reshape({2, 3})},
                                       {"b", torch::ones({2}, torch::kBFloat16)}});
  const regionlm::Weights weights = regionlm::load_weights(argv[1]);
  std::cout << "regionlm " << regionlm::version() << ": loaded " << weights.size() << " tensors, w =";
  const torch::Tensor w = weights.get("w").flatten();
  for (int64_t i = 0; i < w.numel(); ++i) std::cout << ' ' << w[i].item<float>();
  std::cout << '\n';
  return 0;
}
