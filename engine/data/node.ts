/**
 * Node-only data API: everything in `./index.ts` plus reading IDX files (gzipped or not),
 * Fashion-MNIST, PNG/JPEG decoding and image-folder datasets.
 */
export * from './index.ts';
export {
  FASHION_MNIST_DIR, loadFashionMnist, readIdxFile, readIdxImageSet, readMaybeGzip,
} from './fashion_mnist.ts';
export * from './image.ts';
export * from './folder.ts';
