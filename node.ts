/** thaw for Node: everything in index.ts plus file-system helpers (checkpoint files, datasets, the model zoo cache). */
export * from './index.ts';
export { loadCheckpointFile, saveAtomic } from './engine/io/fs.ts';
export { loadFashionMnist, FASHION_MNIST_DIR } from './engine/data/fashion_mnist.ts';
export { readImage } from './engine/data/image.ts';
export { imageFolderDataset, indexImageFolder, checkImageHeaders, type ImageFolderDataset, type ImageFolderIndex } from './engine/data/folder.ts';
export { fetchModel, type FetchedModel, type FetchOptions, type FetchSource, type FetchProgress } from './models/zoo_fetch.ts';
export { saveTrainingCheckpoint, loadTrainingCheckpoint, type TrainingState, type RestoreTargets, type RestoredState } from './engine/train/checkpoint.ts';
export { saveLora, loadLora } from './engine/train/lora_files.ts';
