/**
 * wt.data: datasets, the DataLoader, batch transforms, MNIST (IDX) and character-level text.
 *
 * @example
 * const { train } = await wt.data.loadMnist();
 * const loader = new wt.data.DataLoader(new wt.data.TensorDataset(train.images, train.labels), { batchSize: 64, shuffle: true, seed: 0 });
 */
export { Dataset, TensorDataset, Subset, randomSplit, randperm, seededRandom, type DatasetLike } from './dataset.js';
export { DataLoader, defaultCollate, type DataLoaderOptions } from './loader.js';
export { normalize, randomCrop, randomHorizontalFlip } from './transforms.js';
export { parseIdx, loadMnist, type IdxArray, type IdxDType, type IdxData, type MnistSplit, type LoadMnistOptions } from './idx.js';
export { CharTokenizer, CharDataset } from './text.js';
