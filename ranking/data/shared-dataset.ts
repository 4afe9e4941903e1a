import * as v8 from 'node:v8';
import type { LoadedDataset } from './load-data';
import { RowCacheReader, type SourceIdentity } from './row-cache';
import type { RowCacheOrigin } from './shared-row-cache';
import type { RowBlock } from './rows';

/**
 * One loaded dataset for every thread of a process. The training pool's threads (workers/training-pool.ts) each
 * keep a dataset cache (load-data.ts); without sharing, two threads training on the same data hold two copies of its
 * rows. With it, the first thread to load a dataset moves its rows into SharedArrayBuffers and publishes them as a
 * `SharedDatasetImage`; another thread that needs the same dataset opens the image instead of loading again, and
 * reads the very same memory.
 *
 * Shared rows are read-only by convention (JavaScript cannot freeze a shared buffer): everything downstream of
 * loadDataset copies before it changes rows (encodeRows, takeEncodedRows, negative sampling, shuffled orders,
 * research's shuffled copies), and test/workers/shared-dataset.test.ts checks the bytes are unchanged by training.
 */

/**
 * How a thread's loader meets the other threads (workers/dataset-share.ts implements it over the pool's messages).
 * Every `acquire` that this thread ends up holding (an image, or its own load that it published) is matched by
 * exactly one `drop`, when it leaves this thread's cache or its load fails.
 */
export interface DatasetShare {
  /**
   * The image another thread published under `key`, waiting while one is loading it; or undefined: no thread holds
   * it, this one loads it, then `publish`es it (or `drop`s the key when the load fails, so a waiting thread takes over).
   */
  acquire(key: string): Promise<SharedDatasetImage | undefined>;
  publish(key: string, image: SharedDatasetImage): void;
  /** This thread no longer holds the dataset under `key` (a dataset no thread holds is forgotten, and freed). */
  drop(key: string): void;
}

/**
 * A loaded dataset as it crosses threads: its rows and per-row arrays as views of SharedArrayBuffers (a message
 * carries them without copying), and the rest (config, value names, bad rows…) serialized into one shared byte
 * buffer, so the main thread that relays an image never decodes value-name maps on its event loop.
 */
export interface SharedDatasetImage {
  train: RowBlock;
  validation: RowBlock;
  test: RowBlock;
  testTruth?: Float64Array;
  validationTruth?: Float64Array;
  /** The streamed training rows' labels (out-of-core); the rows themselves stay in the row cache on disk. */
  trainOnDiskLabels?: Uint8Array;
  /** v8-serialized DatasetSummary. */
  summary: Uint8Array;
}

/** Everything of a LoadedDataset but its shared arrays, with the row cache as what reopens it. */
type DatasetSummary = Omit<LoadedDataset, 'train' | 'validation' | 'test' | 'testTruth' | 'validationTruth' | 'trainOnDisk'> & {
  trainOnDisk?: { rows: number; cacheFile: string; source: SourceIdentity; options: Record<string, unknown>; origin: RowCacheOrigin };
};

/**
 * Moves a freshly loaded dataset's rows into shared memory and returns its image. The dataset (which nothing else
 * references yet) is changed in place, one array at a time, so each private original is garbage as soon as its
 * shared copy exists, not after the whole dataset is copied; it is then the loader's own cached copy. The copies
 * are byte copies: the shared rows are bit-identical to the loaded ones (NaN payloads included).
 */
export function moveToSharedMemory(dataset: LoadedDataset): SharedDatasetImage {
  dataset.train = sharedRows(dataset.train);
  dataset.validation = sharedRows(dataset.validation);
  dataset.test = sharedRows(dataset.test);
  if (dataset.testTruth) dataset.testTruth = sharedCopy(dataset.testTruth);
  if (dataset.validationTruth) dataset.validationTruth = sharedCopy(dataset.validationTruth);
  if (dataset.trainOnDisk) dataset.trainOnDisk.labels = sharedCopy(dataset.trainOnDisk.labels);
  const { train, validation, test, testTruth, validationTruth, trainOnDisk, ...rest } = dataset;
  const summary: DatasetSummary = {
    ...rest,
    ...(trainOnDisk
      ? {
          trainOnDisk: {
            rows: trainOnDisk.rows,
            cacheFile: trainOnDisk.cache.file,
            source: trainOnDisk.cache.trailer.source,
            options: trainOnDisk.cache.trailer.options,
            origin: trainOnDisk.origin,
          },
        }
      : {}),
  };
  return {
    train,
    validation,
    test,
    ...(testTruth ? { testTruth } : {}),
    ...(validationTruth ? { validationTruth } : {}),
    ...(trainOnDisk ? { trainOnDiskLabels: trainOnDisk.labels } : {}),
    summary: sharedCopy(v8.serialize(summary)),
  };
}

/**
 * The dataset of an image another thread published: the same shared rows, its own value names and row-cache reader
 * (a reader holds no descriptor; reopening checks the cache is still the one the image was loaded from).
 */
export async function openSharedDataset(image: SharedDatasetImage): Promise<LoadedDataset> {
  const { trainOnDisk, ...rest } = v8.deserialize(image.summary) as DatasetSummary;
  const dataset: LoadedDataset = {
    ...rest,
    train: image.train,
    validation: image.validation,
    test: image.test,
    ...(image.testTruth ? { testTruth: image.testTruth } : {}),
    ...(image.validationTruth ? { validationTruth: image.validationTruth } : {}),
  };
  if (trainOnDisk) {
    if (!image.trainOnDiskLabels) throw new Error('a shared out-of-core dataset came without its training labels');
    const cache = await RowCacheReader.open(trainOnDisk.cacheFile, trainOnDisk.source, trainOnDisk.options);
    dataset.trainOnDisk = { cache, rows: trainOnDisk.rows, labels: image.trainOnDiskLabels, origin: trainOnDisk.origin };
  }
  return dataset;
}

/** Whether every row array of a block lives in shared memory (what a thread that opened an image reads). */
export function isInSharedMemory(block: RowBlock): boolean {
  return [block.labels, block.dense, block.categorical, ...(block.weights ? [block.weights] : [])].every(
    (a) => a.buffer instanceof SharedArrayBuffer,
  );
}

function sharedRows(block: RowBlock): RowBlock {
  return {
    rows: block.rows,
    denseWidth: block.denseWidth,
    categoricalWidth: block.categoricalWidth,
    labels: sharedCopy(block.labels),
    dense: sharedCopy(block.dense),
    categorical: sharedCopy(block.categorical),
    ...(block.weights ? { weights: sharedCopy(block.weights) } : {}),
  };
}

type RowArray = Uint8Array | Float32Array | Uint32Array | Float64Array;

/**
 * A byte copy of `a` on a SharedArrayBuffer of its exact size (a view of a bigger buffer would share the rest too),
 * as the plain typed array of its element type (a Node Buffer comes back as a Uint8Array).
 */
function sharedCopy<A extends RowArray>(a: A): A {
  const bytes = new SharedArrayBuffer(a.byteLength);
  new Uint8Array(bytes).set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  if (a instanceof Float64Array) return new Float64Array(bytes) as A;
  if (a instanceof Float32Array) return new Float32Array(bytes) as A;
  if (a instanceof Uint32Array) return new Uint32Array(bytes) as A;
  return new Uint8Array(bytes) as A;
}
