#!/usr/bin/env bash
# Installs what the test suite needs when it is missing, then builds the library.
# WebGPU runs on SwiftShader (a software Vulkan driver shipped inside Debian's chromium package),
# both through Dawn in Node and in headless Chromium; libvulkan1 is the Vulkan loader.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
[ -f /usr/lib/chromium/vk_swiftshader_icd.json ] || need+=(chromium)
ldconfig -p 2>/dev/null | grep -q 'libvulkan.so.1' || need+=(libvulkan1)
if [ ${#need[@]} -gt 0 ]; then
  echo "test/setup.sh: installing ${need[*]} (software GPU for the WebGPU tests)"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
[ -d node_modules ] || npm install --no-audit --no-fund
npm run -s build
