#!/usr/bin/env bash
# Prepares .gpu-deps/ (git-ignored, ~40 MB) on this Debian machine for scripts/gpu_check.sh on
# a bare CUDA machine that has python3's torch but none of regionlm's C++ libraries and no
# network: a static OpenCV (core, imgproc, imgcodecs with its own zlib/libpng/libjpeg; built
# from the source inside PyPI's opencv-python-headless sdist, ~15 min on 2 cores), the
# Debian packages of sentencepiece, GoogleTest, and nlohmann_json as .deb files,
# and a copy of ../shared/fixtures. Idempotent: finished parts are kept.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
deps="${REGIONLM_GPU_DEPS:-$root/.gpu-deps}"
work="${REGIONLM_GPU_DEPS_WORK:-$root/build-gpu-deps}"
mkdir -p "$deps/debs" "$work"

if [[ ! -f "$deps/opencv-static/lib/cmake/opencv4/OpenCVConfig.cmake" ]]; then
  if [[ ! -d "$work/opencv" ]]; then
    url=$(curl -s https://pypi.org/simple/opencv-python-headless/ |
          grep -o 'https://[^"#]*opencv-python-headless-4.10.0.84.tar.gz' | head -1)
    curl -sL -o "$work/opencv.tar.gz" "$url"
    tar xzf "$work/opencv.tar.gz" -C "$work" --wildcards '*/opencv/*' --exclude='*/.git*' \
      --exclude='*/opencv/modules/*/test/*' --exclude='*/opencv/modules/*/perf/*' \
      --exclude='*/opencv/samples/*' --exclude='*/opencv/doc/*'
    mv "$work"/opencv-python-headless-*/opencv "$work/opencv"
    # Folders the top-level CMakeLists adds unconditionally; their contents were not unpacked.
    mkdir -p "$work/opencv/doc" "$work/opencv/modules/python/test"
    touch "$work/opencv/doc/CMakeLists.txt" "$work/opencv/modules/python/test/CMakeLists.txt"
  fi
  cmake -S "$work/opencv" -B "$work/opencv-build" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_INSTALL_PREFIX="$deps/opencv-static" -DBUILD_LIST=core,imgproc,imgcodecs \
    -DBUILD_SHARED_LIBS=OFF -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
    -DBUILD_ZLIB=ON -DBUILD_PNG=ON -DBUILD_JPEG=ON -DWITH_PNG=ON -DWITH_JPEG=ON -DWITH_SPNG=OFF \
    -DWITH_TIFF=OFF -DWITH_WEBP=OFF -DWITH_OPENEXR=OFF -DWITH_JASPER=OFF -DWITH_OPENJPEG=OFF \
    -DWITH_GDAL=OFF -DWITH_GDCM=OFF -DWITH_IMGCODEC_HDR=OFF -DWITH_IMGCODEC_SUNRASTER=OFF \
    -DWITH_IMGCODEC_PFM=OFF -DWITH_AVIF=OFF -DWITH_IPP=OFF -DWITH_ITT=OFF -DWITH_OPENCL=OFF \
    -DWITH_EIGEN=OFF -DWITH_LAPACK=OFF -DWITH_TBB=OFF -DWITH_OPENMP=OFF -DWITH_CUDA=OFF \
    -DWITH_PROTOBUF=OFF -DWITH_FFMPEG=OFF -DWITH_GTK=OFF -DWITH_V4L=OFF -DWITH_1394=OFF -DWITH_VA=OFF \
    -DWITH_KLEIDICV=OFF -DWITH_CAROTENE=OFF -DWITH_FLATBUFFERS=OFF -DWITH_QUIRC=OFF -DWITH_ADE=OFF \
    -DBUILD_TESTS=OFF -DBUILD_PERF_TESTS=OFF -DBUILD_EXAMPLES=OFF -DBUILD_opencv_apps=OFF \
    -DBUILD_JAVA=OFF -DBUILD_opencv_python3=OFF -DBUILD_opencv_python2=OFF \
    -DCPU_DISPATCH= -DCPU_BASELINE=AVX2 -DOPENCV_GENERATE_PKGCONFIG=OFF >"$work/opencv-configure.log"
  cmake --build "$work/opencv-build" -j "$(nproc)" >"$work/opencv-build.log"
  cmake --install "$work/opencv-build" >/dev/null
fi

(cd "$deps/debs" && apt-get download libsentencepiece0 libsentencepiece-dev libgtest-dev libgmock-dev \
   nlohmann-json3-dev 2>/dev/null)
fixtures="${REGIONLM_FIXTURES:-$root/../shared/fixtures}"
[[ -d "$fixtures" ]] && rm -rf "$deps/fixtures" && cp -a "$fixtures" "$deps/fixtures"
du -sh "$deps"
