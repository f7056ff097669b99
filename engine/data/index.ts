/**
 * Browser-safe data API: IDX parsing, transforms, preprocessing, datasets, PRNG, errors.
 * Node-only helpers (files, gunzip, image decoding, folders) are in `./node.ts`.
 */
export * from './errors.ts';
export * from './rng.ts';
export * from './idx.ts';
export * from './transforms.ts';
export * from './preprocess.ts';
export * from './dataset.ts';
