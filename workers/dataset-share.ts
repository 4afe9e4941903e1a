import type { DatasetShare, SharedDatasetImage } from '../ranking/data/shared-dataset';

/**
 * The training pool's dataset sharing, both sides of it: the pool's registry (main thread) of the datasets its
 * threads hold in shared memory (ranking/data/shared-dataset.ts), and a thread's DatasetShare, which asks the
 * registry by message. So threads training on the same data hold one copy of its rows, loaded once.
 *
 * The registry decides who loads: the first thread to ask for a dataset loads it, threads asking while it loads
 * wait for its image (two threads asking at once → one load), later ones get the image at once. It counts holds
 * per thread (each thread's dataset cache holds at most two datasets, as before) and forgets a dataset when no
 * thread holds it; the memory is freed when the last thread using it lets go. A load that fails, or a thread that
 * dies, hands the load to the next waiting thread.
 */

/** A thread's request to the registry (inside the pool's FromThread `dataset` message). */
export type DatasetRequest = { op: 'acquire'; key: string } | { op: 'publish'; key: string; image: SharedDatasetImage } | { op: 'drop'; key: string };

/** The registry's answer to an `acquire`: the image, or none (the asking thread loads the dataset itself). */
export interface DatasetAnswer {
  key: string;
  image?: SharedDatasetImage;
}

interface SharedDatasetEntry<Thread> {
  /** Set once published. */
  image?: SharedDatasetImage;
  /** The thread loading it, until it publishes. */
  loader?: Thread;
  /** Threads waiting for the loader's image, in the order they asked. */
  waiting: Thread[];
  /** Holds per thread (a thread whose cache dropped and re-asked for a key while its load ran may hold it twice). */
  holds: Map<Thread, number>;
}

/** What the registry holds now: for tests and benches. */
export interface SharedDatasetsSnapshot {
  /** Loads the registry asked threads to do: one per dataset while some thread holds it. */
  loads: number;
  /** Images handed to threads that then did not load. */
  reuses: number;
  datasets: { key: string; image?: SharedDatasetImage; loading: boolean; holders: number }[];
}

export class SharedDatasets<Thread> {
  private readonly entries = new Map<string, SharedDatasetEntry<Thread>>();
  private loads = 0;
  private reuses = 0;

  /** `answer` sends an acquire's answer to its thread. */
  constructor(private readonly answer: (thread: Thread, answer: DatasetAnswer) => void) {}

  /** One request of a thread. */
  handle(thread: Thread, request: DatasetRequest): void {
    switch (request.op) {
      case 'acquire':
        return this.acquire(thread, request.key);
      case 'publish':
        return this.publish(thread, request.key, request.image);
      case 'drop':
        return this.drop(thread, request.key);
    }
  }

  /** A thread that ended (or was terminated): its holds go, and a load it was doing passes to a waiting thread. */
  threadEnded(thread: Thread): void {
    for (const [key, entry] of this.entries) {
      entry.holds.delete(thread);
      entry.waiting = entry.waiting.filter((t) => t !== thread);
      if (entry.loader === thread) this.handOver(key, entry);
      else this.forgetIfUnheld(key, entry);
    }
  }

  snapshot(): SharedDatasetsSnapshot {
    return {
      loads: this.loads,
      reuses: this.reuses,
      datasets: [...this.entries].map(([key, e]) => ({
        key,
        ...(e.image ? { image: e.image } : {}),
        loading: e.loader !== undefined,
        holders: [...e.holds.values()].reduce((a, b) => a + b, 0),
      })),
    };
  }

  private acquire(thread: Thread, key: string): void {
    const entry = this.entries.get(key);
    if (!entry) {
      this.entries.set(key, { loader: thread, waiting: [], holds: new Map() });
      this.loads++;
      return this.answer(thread, { key });
    }
    if (entry.image) return this.give(thread, key, entry, entry.image);
    entry.waiting.push(thread);
  }

  private publish(thread: Thread, key: string, image: SharedDatasetImage): void {
    let entry = this.entries.get(key);
    if (!entry) {
      // Not expected (a loader's entry lives until it publishes or drops), but an image is worth keeping.
      entry = { waiting: [], holds: new Map() };
      this.entries.set(key, entry);
    }
    entry.loader = undefined;
    entry.image = image;
    hold(entry, thread);
    for (const waiter of entry.waiting.splice(0)) this.give(waiter, key, entry, image);
  }

  private drop(thread: Thread, key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    // The loader drops what it has not published: its load failed.
    if (entry.loader === thread) return this.handOver(key, entry);
    const n = entry.holds.get(thread) ?? 0;
    if (n <= 1) entry.holds.delete(thread);
    else entry.holds.set(thread, n - 1);
    this.forgetIfUnheld(key, entry);
  }

  private give(thread: Thread, key: string, entry: SharedDatasetEntry<Thread>, image: SharedDatasetImage): void {
    hold(entry, thread);
    this.reuses++;
    this.answer(thread, { key, image });
  }

  /** The loader is gone or failed: the first waiting thread loads instead (its own error, if it fails too). */
  private handOver(key: string, entry: SharedDatasetEntry<Thread>): void {
    entry.loader = entry.waiting.shift();
    if (entry.loader === undefined) return this.forgetIfUnheld(key, entry);
    this.loads++;
    this.answer(entry.loader, { key });
  }

  private forgetIfUnheld(key: string, entry: SharedDatasetEntry<Thread>): void {
    if (entry.holds.size === 0 && entry.loader === undefined && entry.waiting.length === 0) this.entries.delete(key);
  }
}

function hold<Thread>(entry: SharedDatasetEntry<Thread>, thread: Thread): void {
  entry.holds.set(thread, (entry.holds.get(thread) ?? 0) + 1);
}

/**
 * A pool thread's side: acquire asks the registry and waits for its answer (answers to one thread come in the order
 * it asked, per key); publish and drop are one-way. `answered` is given the registry's answers as they arrive.
 */
export function threadDatasetShare(send: (request: DatasetRequest) => void): DatasetShare & { answered(answer: DatasetAnswer): void } {
  const asked = new Map<string, ((image: SharedDatasetImage | undefined) => void)[]>();
  return {
    acquire(key) {
      return new Promise((resolve) => {
        const queue = asked.get(key) ?? [];
        queue.push(resolve);
        asked.set(key, queue);
        send({ op: 'acquire', key });
      });
    },
    publish(key, image) {
      send({ op: 'publish', key, image });
    },
    drop(key) {
      send({ op: 'drop', key });
    },
    answered({ key, image }) {
      const queue = asked.get(key);
      const resolve = queue?.shift();
      if (queue?.length === 0) asked.delete(key);
      resolve?.(image);
    },
  };
}
