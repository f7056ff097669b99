# Sourced by scripts: picks a WebGPU adapter for Dawn in Node.
# THAW_ADAPTER=lavapipe|swiftshader forces a software Vulkan driver; otherwise Dawn's default
# (a hardware GPU when present, else whatever Vulkan driver is installed).
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
case "${THAW_ADAPTER:-}" in
  lavapipe) export VK_ICD_FILENAMES=/usr/share/vulkan/icd.d/lvp_icd.json ;;
  swiftshader) export VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json ;;
esac
export NODE_OPTIONS="--import tsx --import $(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/wgsl-hooks.mjs ${NODE_OPTIONS:-}"
