// The `regionlm._core` extension module; python/regionlm/__init__.py re-exports it as `regionlm`.
#include <ATen/Parallel.h>
#include <nanobind/stl/string.h>

#include "bindings.hpp"
#include "regionlm/error.hpp"
#include "regionlm/version.hpp"

NB_MODULE(_core, m) {
  namespace nb = nanobind;
  using namespace regionlm::python;
  m.doc() = "regionlm: region-level multimodal LLM inference (Osprey, GPT4RoI) and Segment Anything.";
  m.attr("__version__") = regionlm::version();
  register_errors(m);
  register_region(m);
  register_model(m);
  register_sam(m);
  m.def(
      "set_num_threads",
      [](int threads) {
        if (threads < 1) throw regionlm::ArgumentError("threads: expected >= 1, got " + std::to_string(threads));
        at::set_num_threads(threads);
      },
      nb::arg("threads"), "Threads LibTorch uses inside one call (intra-op), e.g. 1 per Ray actor of one CPU.");
  m.def("get_num_threads", &at::get_num_threads, "Threads LibTorch uses inside one call.");
}
