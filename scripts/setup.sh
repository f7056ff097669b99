#!/usr/bin/env bash
# Installs what thaw needs on a fresh Debian machine: a software Vulkan driver
# (lavapipe from Mesa >= 23 via bookworm-backports, and SwiftShader via chromium),
# Chromium for browser tests, PyTorch for fixture generation, Fashion-MNIST, and
# the npm dependencies. Idempotent; run as root (or with sudo).
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive

want_pkgs="libvulkan1 chromium python3-torch python3-torchvision python3-numpy dataset-fashion-mnist"
need_apt=0
for p in $want_pkgs; do dpkg -s "$p" >/dev/null 2>&1 || need_apt=1; done
[ -f /usr/share/vulkan/icd.d/lvp_icd.json ] || need_apt=1

if [ "$need_apt" = 1 ] && command -v apt-get >/dev/null; then
  # bookworm's own Mesa 22 is too old for Dawn; the backports suite has Mesa 25.
  src=/etc/apt/sources.list.d/debian.sources
  bp=/etc/apt/sources.list.d/thaw-backports.sources
  if grep -q '^Suites:.*bookworm' "$src" 2>/dev/null && [ ! -f "$bp" ]; then
    awk 'BEGIN{RS="";ORS="\n\n"} /Suites:[^\n]*bookworm( |$|-updates)/ && !/security/ {
           sub(/Suites:[^\n]*/, "Suites: bookworm-backports"); print }' "$src" | $SUDO tee "$bp" >/dev/null
  fi
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends $want_pkgs >/dev/null
  if [ -f "$bp" ]; then
    $SUDO apt-get install -y -qq --no-install-recommends -t bookworm-backports mesa-vulkan-drivers >/dev/null
  else
    $SUDO apt-get install -y -qq --no-install-recommends mesa-vulkan-drivers >/dev/null
  fi
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
echo "setup: done (lavapipe: $([ -f /usr/share/vulkan/icd.d/lvp_icd.json ] && echo yes || echo no)," \
     "swiftshader: $([ -f /usr/lib/chromium/vk_swiftshader_icd.json ] && echo yes || echo no))"
