/** thaw for Node: everything in index.ts plus file-system helpers (checkpoint files, datasets, the model zoo cache). */
export * from './index.ts';
export { loadCheckpointFile, saveAtomic } from './engine/io/fs.ts';
export { loadFashionMnist, FASHION_MNIST_DIR } from './engine/data/fashion-mnist.ts';
export { readImage } from './engine/data/image.ts';
export { imageFolderDataset, indexImageFolder, checkImageHeaders } from './engine/data/folder.ts';
export { fetchModel } from './engine/zoo-fetch.ts';
export { saveTrainingCheckpoint, loadTrainingCheckpoint } from './engine/checkpoint.ts';
export { checkFinite, findNonFinite, encodeFiniteCheck, describeNonFinite, NonFiniteError, type NonFiniteReport, type PendingFiniteCheck } from './engine/safety.ts';
