/**
 * Node-only LoRA adapter files: `saveLora` writes a folder as PEFT's `save_pretrained` does,
 * `loadLora` reads one (thaw's or PEFT's). The adapters themselves are in lora.ts, which runs in browsers too.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Module } from '../nn/module.ts';
import { FileError, ThawError, isSystemError } from '../core/errors.ts';
import { writeSafetensors } from '../io/safetensors.ts';
import { saveAtomic, checkWritableDir } from '../io/fs.ts';
import {
  loraConfig, loraStateDict, peftConfigJson, loadLoraBytes, ADAPTER_WEIGHTS, ADAPTER_CONFIG,
  type LoraConfig, type SaveLoraOptions, type LoadLoraOptions,
} from './lora.ts';

/**
 * Writes the adapters (and the modules to save) as PEFT's `save_pretrained` does: `dir/adapter_model.safetensors`
 * and `dir/adapter_config.json`, each atomically (weights first). The folder is checked writable before any work.
 */
export async function saveLora(model: Module, dir: string, o: SaveLoraOptions = {}): Promise<{ weights: string; config: string; keys: string[] }> {
  const c = loraConfig(model);
  if (!c) throw new ThawError('lora', 'saveLora: the model has no LoRA adapters (apply lora() first)');
  checkWritableDir(dir, 'choose a folder you can write to');
  const tensors = await loraStateDict(model);
  const weights = join(dir, ADAPTER_WEIGHTS), config = join(dir, ADAPTER_CONFIG);
  await saveAtomic(weights, writeSafetensors(tensors, { format: 'pt' }));
  await saveAtomic(config, new TextEncoder().encode(JSON.stringify(peftConfigJson(c, o), null, 2)));
  return { weights, config, keys: [...tensors.keys()] };
}

async function readIn(dir: string, name: string, what: string): Promise<Uint8Array> {
  try {
    return await readFile(join(dir, name));
  } catch (e) {
    if (isSystemError(e)) throw new FileError(e, `give a folder holding ${what} (written by saveLora or PEFT's save_pretrained)`);
    throw e;
  }
}

/** Loads a LoRA adapter folder (`adapter_model.safetensors` + `adapter_config.json`) into `model`: see `loadLoraBytes`. */
export async function loadLora(model: Module, dir: string, o: LoadLoraOptions = {}): Promise<LoraConfig> {
  const cfgBytes = await readIn(dir, ADAPTER_CONFIG, ADAPTER_CONFIG);
  const wBytes = await readIn(dir, ADAPTER_WEIGHTS, ADAPTER_WEIGHTS);
  return loadLoraBytes(model, cfgBytes, wBytes, dir, o);
}
