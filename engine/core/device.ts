/**
 * The WebGPU device: `navigator.gpu` in browsers, Dawn (npm `webgpu`) in Node.
 *
 * In Node we prefer a hardware adapter and fall back to a software Vulkan driver (lavapipe, then
 * SwiftShader). Dawn's `create()` result must stay strongly referenced for the device's life, or
 * Dawn crashes at random when it is collected, so it is pinned on `globalThis`.
 */
import { DeviceError } from './errors.ts';

/** What `thaw info` and the benchmarks report about the adapter. */
export interface AdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** 'lavapipe' | 'swiftshader' | 'hardware' | 'unknown' */
  kind: 'lavapipe' | 'swiftshader' | 'hardware' | 'unknown';
  /** True for CPU-emulated adapters, where kernels run at a few GFLOP/s. */
  isSoftware: boolean;
  backend: 'dawn-node' | 'browser';
  features: string[];
  limits: Record<string, number>;
}

/** A live device with its adapter description and error state. */
export interface Gpu {
  device: GPUDevice;
  adapter: GPUAdapter;
  info: AdapterSummary;
  /** Set when the device was lost; every later use throws it. */
  lost: DeviceError | null;
  /** Uncaptured validation/OOM errors, surfaced at the next sync point. */
  errors: string[];
}

export const LAVAPIPE_ICD = '/usr/share/vulkan/icd.d/lvp_icd.json';
export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
// Not Dawn's `skip_validation`: on lavapipe it saves 0.4-0.6 µs of a dispatch's host time (bench/dispatch.ts:
// the replayed ResNet-20 step 6.0-6.5 -> 5.6-6.1 µs per dispatch), but a command thaw got wrong would then
// run unchecked instead of failing with Dawn's validation error.
const DAWN_FLAGS = ['enable-dawn-features=allow_unsafe_apis,disable_robustness'];

const FIX = 'Install a software Vulkan driver with `bash scripts/setup.sh` (Debian: mesa-vulkan-drivers from ' +
  'bookworm-backports for lavapipe, or chromium for SwiftShader), or run on a machine with a GPU. ' +
  'THAW_ADAPTER=lavapipe|swiftshader picks a driver.';

let current: Promise<Gpu> | null = null;

/** Returns the shared device, creating it on first use. */
export function getGpu(): Promise<Gpu> {
  if (!current) current = createGpu().catch((e) => { current = null; throw e; });
  return current;
}

/** The device if it was already created (sync access for hot paths). */
export let gpu: Gpu | null = null;

/** Forgets the current device (after loss) so the next `getGpu()` makes a new one. */
export function resetGpu(): void {
  if (gpu && !gpu.lost) gpu.device.destroy();
  gpu = null;
  current = null;
}

async function nodeGpuFactory(): Promise<GPU> {
  const g = globalThis as any;
  if (!g.__thawDawn) {
    const name = 'webgpu';
    let mod: any;
    try {
      mod = await import(/* @vite-ignore */ name);
    } catch (e) {
      throw new DeviceError('no-adapter', `could not load the Dawn binding (npm 'webgpu'): ${(e as Error).message}. Run \`npm ci\`.`);
    }
    Object.assign(globalThis, mod.globals);
    throttleDawnPolling();
    g.__thawDawn = mod.create(DAWN_FLAGS);
  }
  return g.__thawDawn as GPU;
}

/**
 * Dawn-node waits for GPU work (mapAsync, onSubmittedWorkDone) by re-posting a native callback with
 * the global setImmediate until it is done: a busy loop that takes a whole core from the driver's
 * threads, which on a software adapter compile the shaders and run the kernels. Its polls go
 * through setImmediate for the first 2 ms of a wait (short waits end as fast as before), then
 * through a 1 ms timer. Every other setImmediate call is unchanged.
 */
function throttleDawnPolling(): void {
  const g = globalThis as any;
  const immediate = g.setImmediate;
  if (typeof immediate !== 'function' || immediate.thawThrottled) return;
  const nativeSource = Function.prototype.toString.call(Math.max).replace('max', '');
  // A poll posted from inside a poll continues a wait; any other starts one.
  let waitStart = 0, inPoll = false;
  const wrapped = function (this: unknown, fn: unknown, ...args: unknown[]) {
    if (typeof fn === 'function' && fn.name === '' && Function.prototype.toString.call(fn) === nativeSource) {
      const now = performance.now();
      if (!inPoll) waitStart = now;
      const poll = () => { inPoll = true; try { (fn as () => void)(); } finally { inPoll = false; } };
      return now - waitStart > 2 ? setTimeout(poll, 1) : immediate(poll);
    }
    return immediate.call(this, fn, ...args);
  };
  Object.defineProperties(wrapped, Object.getOwnPropertyDescriptors(immediate));
  (wrapped as any).thawThrottled = true;
  g.setImmediate = wrapped;
}

function isNode(): boolean {
  return typeof process !== 'undefined' && !!process.versions?.node;
}

async function requestAdapter(): Promise<GPUAdapter> {
  if (!isNode()) {
    const g = (globalThis as any).navigator?.gpu as GPU | undefined;
    if (!g) throw new DeviceError('no-adapter', 'this browser has no WebGPU (navigator.gpu is undefined). Use a recent Chrome/Edge, or start Chromium with --enable-unsafe-webgpu.');
    const a = await g.requestAdapter({ powerPreference: 'high-performance' });
    if (!a) throw new DeviceError('no-adapter', 'navigator.gpu.requestAdapter() returned null: WebGPU is disabled or unsupported here. In Chromium try --enable-unsafe-webgpu.');
    return a;
  }
  const env = process.env;
  const forced = env.THAW_ADAPTER;
  if (forced === 'lavapipe') env.VK_ICD_FILENAMES = LAVAPIPE_ICD;
  else if (forced === 'swiftshader') env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  env.XDG_RUNTIME_DIR ??= '/tmp';
  const tried: string[] = [];
  const fs = await import('node:fs');
  // The Vulkan loader reads VK_ICD_FILENAMES when Dawn creates its instance, so a fallback driver
  // can only be chosen before the first create(); try the default set first.
  if (!env.VK_ICD_FILENAMES && !(globalThis as any).__thawDawn) {
    const hasAny = [LAVAPIPE_ICD, SWIFTSHADER_ICD].some((p) => fs.existsSync(p)) ||
      fs.existsSync('/usr/share/vulkan/icd.d') || fs.existsSync('/etc/vulkan/icd.d');
    if (!hasAny) throw new DeviceError('no-adapter', `no Vulkan driver is installed, so Dawn has no adapter. ${FIX}`);
    if (!fs.existsSync('/usr/share/vulkan/icd.d') && fs.existsSync(SWIFTSHADER_ICD)) env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  }
  const g = await nodeGpuFactory();
  const a = await g.requestAdapter({ powerPreference: 'high-performance' });
  tried.push(env.VK_ICD_FILENAMES ?? 'default Vulkan drivers');
  if (!a) throw new DeviceError('no-adapter', `Dawn found no WebGPU adapter (tried: ${tried.join(', ')}). ${FIX}`);
  return a;
}

function summarize(adapter: GPUAdapter): AdapterSummary {
  const i = (adapter as any).info ?? {};
  const text = `${i.vendor ?? ''} ${i.architecture ?? ''} ${i.device ?? ''} ${i.description ?? ''}`.toLowerCase();
  const kind = text.includes('llvmpipe') || text.includes('lavapipe') ? 'lavapipe'
    : text.includes('swiftshader') ? 'swiftshader'
    : (i.vendor || i.description) ? 'hardware' : 'unknown';
  const limits: Record<string, number> = {};
  for (const k in adapter.limits) {
    const v = (adapter.limits as any)[k];
    if (typeof v === 'number') limits[k] = v;
  }
  return {
    vendor: i.vendor ?? '', architecture: i.architecture ?? '', device: i.device ?? '', description: i.description ?? '',
    kind, isSoftware: kind === 'lavapipe' || kind === 'swiftshader' || (adapter as any).isFallbackAdapter === true,
    backend: isNode() ? 'dawn-node' : 'browser',
    features: [...adapter.features].map(String).sort(), limits,
  };
}

async function createGpu(): Promise<Gpu> {
  const adapter = await requestAdapter();
  const L = adapter.limits;
  const requiredLimits: Record<string, number> = {
    maxStorageBufferBindingSize: L.maxStorageBufferBindingSize,
    maxBufferSize: L.maxBufferSize,
    maxComputeWorkgroupStorageSize: L.maxComputeWorkgroupStorageSize,
    maxComputeInvocationsPerWorkgroup: L.maxComputeInvocationsPerWorkgroup,
    maxComputeWorkgroupSizeX: L.maxComputeWorkgroupSizeX,
    maxComputeWorkgroupSizeY: L.maxComputeWorkgroupSizeY,
    maxStorageBuffersPerShaderStage: L.maxStorageBuffersPerShaderStage,
  };
  const requiredFeatures: GPUFeatureName[] = [];
  if (adapter.features.has('timestamp-query')) requiredFeatures.push('timestamp-query');
  // Subgroup operations let the software adapters share loads across lanes (kernels/matmul/subgroup.ts).
  if (adapter.features.has('subgroups' as GPUFeatureName)) requiredFeatures.push('subgroups' as GPUFeatureName);
  // Half-precision kernels (f16 tensors); an adapter without it refuses f16 (runtime.ts requireF16).
  if (adapter.features.has('shader-f16')) requiredFeatures.push('shader-f16');
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  } catch (e) {
    throw new DeviceError('no-device', `the adapter refused to create a device: ${(e as Error).message}. ${FIX}`);
  }
  const g: Gpu = { device, adapter, info: summarize(adapter), lost: null, errors: [] };
  device.lost.then((info) => {
    if (info.reason === 'destroyed' && gpu !== g) return;
    g.lost = new DeviceError('device-lost', `the GPU device was lost (${info.reason}): ${info.message}. ` +
      'Tensors on it are gone; resume from the last checkpoint on a new device (resetGpu(), then reload).');
  });
  device.addEventListener('uncapturederror', (ev: any) => {
    const msg = String(ev.error?.message ?? ev.error);
    g.errors.push(msg);
    if (typeof console !== 'undefined') console.error(`thaw: uncaptured WebGPU error: ${msg}`);
  });
  gpu = g;
  return g;
}

/** Throws if the device was lost or recorded an uncaptured error since the last check. */
export function checkGpu(g: Gpu): void {
  if (g.lost) throw g.lost;
  if (g.errors.length) {
    const errs = g.errors.splice(0);
    throw new DeviceError('gpu-validation', `WebGPU reported ${errs.length} error(s): ${errs.join(' | ')}`);
  }
}
