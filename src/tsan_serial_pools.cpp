// ThreadSanitizer builds only (REGIONLM_TSAN, `make tsan`, docs/reliability.md). OpenCV runs
// cv::parallel_for_ bodies (the Pillow-exact resampling in vision/resample.cpp) on its TBB
// pool, and libtbb is not instrumented: TSan cannot see the pool hand the work back and
// reports the bodies' reads as racing with their caller, and TBB threads reusing stacks.
// OpenCV reads no environment setting that keeps it off the pool (OPENCV_FOR_THREADS_NUM
// applies only through setNumThreads(-1)), so such builds switch it off when the library loads;
// every other build is unaffected. LibTorch's OpenMP pool is kept at one thread by
// OMP_NUM_THREADS=1 in scripts/run_tsan.sh.
#ifdef REGIONLM_TSAN
#include <opencv2/core/utility.hpp>

namespace {
const bool kOpenCvSerial = [] {
  cv::setNumThreads(1);
  return true;
}();
}  // namespace
#endif
