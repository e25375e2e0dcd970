#!/usr/bin/env bash
# Installs everything regionlm needs on a Debian machine: system packages with apt and a
# project-local Python venv (.venv) whose torch wheel provides LibTorch for the C++ build.
# Idempotent: a second run on a ready machine only checks stamps and returns in seconds.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${REGIONLM_VENV:-$root/.venv}"
req="$root/scripts/requirements.txt"

apt_packages=(libopencv-dev libsentencepiece-dev sentencepiece nlohmann-json3-dev
              libgtest-dev libgmock-dev libbenchmark-dev cmake g++ python3-venv pkg-config
              libcpp-httplib-dev chromium chromium-driver  # these three: regionlm-server and its browser test
              python3-dev  # headers for the Python module when the venv is Debian's python3
              clang libclang-rt-14-dev)  # libFuzzer and the sanitizer runtimes for `make fuzz`

missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "[setup] apt: installing ${missing[*]}"
  sudo_cmd=""; [[ $(id -u) -ne 0 ]] && sudo_cmd="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo_cmd apt-get update -qq
  $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

python_bin="${PYTHON:-python3}"
stamp="$venv/.regionlm-requirements"
if [[ ! -x "$venv/bin/python" ]]; then
  echo "[setup] creating venv $venv"
  "$python_bin" -m venv "$venv"
fi
if ! cmp -s "$req" "$stamp"; then
  echo "[setup] pip: installing $req (pip's cache in ~/.cache/pip is reused)"
  "$venv/bin/python" -m pip install -q --upgrade pip
  "$venv/bin/python" -m pip install -q -r "$req"
  cp "$req" "$stamp"
fi
echo "[setup] ready: venv $venv"
