/** `thaw info`: the adapter, driver, backend, features and limits. */
import { init } from '../engine/core/runtime.ts';

export async function info(json: boolean): Promise<void> {
  const rt = await init();
  const i = rt.gpu.info;
  if (json) { console.log(JSON.stringify(i, null, 2)); return; }
  const L = i.limits;
  console.log(`adapter:   ${i.description || i.device || '(no description)'}`);
  console.log(`vendor:    ${i.vendor || '-'}   architecture: ${i.architecture || '-'}`);
  console.log(`backend:   ${i.backend}${i.backend === 'dawn-node' ? ` (Vulkan driver: ${process.env.VK_ICD_FILENAMES ?? 'system default'})` : ''}`);
  console.log(`kind:      ${i.kind}${i.isSoftware ? ' — a software (CPU-emulated) adapter: kernels run at a few GFLOP/s; fine for tests and small jobs, slow for big ones' : ''}`);
  console.log(`features:  ${i.features.join(', ')}`);
  console.log(`limits:    maxBufferSize ${L.maxBufferSize}, maxStorageBufferBindingSize ${L.maxStorageBufferBindingSize}, ` +
    `maxComputeInvocationsPerWorkgroup ${L.maxComputeInvocationsPerWorkgroup}, maxComputeWorkgroupStorageSize ${L.maxComputeWorkgroupStorageSize}, ` +
    `maxComputeWorkgroupsPerDimension ${L.maxComputeWorkgroupsPerDimension}`);
}
