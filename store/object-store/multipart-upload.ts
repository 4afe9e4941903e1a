import * as fs from 'node:fs';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';

/**
 * A file too big for one PUT (S3 takes at most 5 GiB in one request; a 40M-row row cache is ~6 GB) goes up as a
 * multipart upload: parts streamed from one open descriptor, a few at a time, each retried on its own through an
 * outage (a dropped connection costs one part, not the whole file), then completed. An upload that fails is aborted,
 * so the parts sent so far do not linger (and bill) in the bucket.
 */

/** S3's bounds: every part but the last is at least 5 MiB, at most 5 GiB; an upload has at most 10,000 parts. */
export const MIN_PART_BYTES = 5 * 2 ** 20;
export const MAX_PART_BYTES = 5 * 2 ** 30;
const MAX_PARTS = 10_000;
/** The default part size: 64 MiB (a 6 GB row cache is ~90 parts; 10,000 of them reach 640 GiB). */
export const DEFAULT_PART_BYTES = 64 * 2 ** 20;
/** Parts in flight at once: enough to fill a link that one stream does not, little enough to stay polite. */
const PARTS_IN_FLIGHT = 4;

/** Checks a part size given to the store (a constructor option): within S3's bounds, a whole number of bytes. */
export function checkPartBytes(bytes: number): number {
  if (!Number.isInteger(bytes) || bytes < MIN_PART_BYTES || bytes > MAX_PART_BYTES)
    throw new Error(
      `partBytes ${bytes} is not a part size S3 accepts: a whole number of bytes from ${MIN_PART_BYTES} (5 MiB) to ${MAX_PART_BYTES} (5 GiB)`,
    );
  return bytes;
}

/** The part size for a file: the configured one, grown (to whole MiB) where the file would need over 10,000 parts. */
export function partBytesFor(size: number, partBytes: number): number {
  const least = Math.ceil(size / MAX_PARTS / 2 ** 20) * 2 ** 20;
  return Math.max(partBytes, least);
}

/** How the store runs a request: retried through an outage for the call's time, with a message saying what failed. */
export type Retry = <T>(what: string, op: () => Promise<T>) => Promise<T>;

export interface MultipartUpload {
  client: S3Client;
  bucket: string;
  /** The object's full key (prefix included). */
  Key: string;
  /** The key as the caller named it, for messages. */
  key: string;
  file: string;
  partBytes: number;
  retry: Retry;
  /** Told the file's size before anything is sent (what the timings line reports). */
  sending?: (size: number) => void;
}

/** Uploads `file` in parts and returns how many; a failure aborts the upload and throws what failed first. */
export async function uploadInParts(u: MultipartUpload): Promise<number> {
  const { client, bucket: Bucket, Key, key, retry } = u;
  const first = await fs.promises.stat(u.file);
  const size = first.size;
  u.sending?.(size);
  const partBytes = partBytesFor(size, u.partBytes);
  const count = Math.max(1, Math.ceil(size / partBytes));
  const created = await retry(`starting a multipart upload of ${key}`, () => client.send(new CreateMultipartUploadCommand({ Bucket, Key })));
  const UploadId = created.UploadId;
  if (!UploadId) throw new Error(`starting a multipart upload of ${key}: the store answered without an upload id`);
  const etags: string[] = new Array<string>(count);
  let next = 0;
  let failure: { err: unknown } | undefined;
  // The first failure cancels the parts in flight (one reading a file that shrank would otherwise wait for its idle timeout).
  const cancel = new AbortController();

  const sendPart = async (i: number) => {
    const start = i * partBytes;
    const length = Math.min(partBytes, size - start);
    const out = await retry(`putting part ${i + 1} of ${count} of ${key}`, async () => {
      // Opened for every try (a stream half-consumed by a failed request cannot be sent twice; destroying one closes
      // its descriptor). A file replaced, grown or shrunk meanwhile would mix parts of two files: refused, not retried.
      if (failure) throw new Error('another part failed');
      const handle = await fs.promises.open(u.file, 'r');
      let body: ReturnType<typeof handle.createReadStream> | undefined;
      try {
        const now = await handle.stat();
        if (now.ino !== first.ino || now.dev !== first.dev || now.size !== size)
          throw new Error(
            `${u.file} changed while it was being uploaded (${size} bytes, now ${now.size}${now.ino !== first.ino ? ', another file' : ''})`,
          );
        body = handle.createReadStream({ start, end: start + length - 1 });
        return await client.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: i + 1, Body: body, ContentLength: length }), {
          abortSignal: cancel.signal,
        });
      } finally {
        // Destroying the stream closes the descriptor it read from.
        if (body) body.destroy();
        else await handle.close();
      }
    });
    if (!out.ETag) throw new Error(`putting part ${i + 1} of ${count} of ${key}: the store answered without an ETag`);
    etags[i] = out.ETag;
  };
  // A few senders take parts in order; after a failure they start no new part, so the abort meets no part in flight.
  const sender = async () => {
    while (!failure && next < count) {
      const i = next++;
      try {
        await sendPart(i);
      } catch (err) {
        if (!failure) {
          failure = { err };
          cancel.abort();
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARTS_IN_FLIGHT, count) }, sender));

  if (!failure) {
    try {
      await complete(u, UploadId, etags, size);
      return count;
    } catch (err) {
      failure = { err };
    }
  }
  throw await aborted(u, UploadId, failure.err);
}

/**
 * Completes the upload. Should a completion succeed but its answer be lost, the retry finds no such upload any more:
 * then the object is there at the file's size, and that is success too.
 */
async function complete(u: MultipartUpload, UploadId: string, etags: string[], size: number): Promise<void> {
  const { client, bucket: Bucket, Key, key } = u;
  let tries = 0;
  await u.retry(`completing the multipart upload of ${key}`, async () => {
    tries++;
    try {
      await client.send(
        new CompleteMultipartUploadCommand({
          Bucket,
          Key,
          UploadId,
          MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
        }),
      );
    } catch (err) {
      if (tries > 1 && (err as { name?: string }).name === 'NoSuchUpload') {
        const there = await client.send(new HeadObjectCommand({ Bucket, Key })).catch(() => undefined);
        if (there?.ContentLength === size) return;
      }
      throw err;
    }
  });
}

/** Aborts the upload (its parts are deleted) and returns the error to throw: the first failure, plus the abort's own. */
async function aborted(u: MultipartUpload, UploadId: string, err: unknown): Promise<unknown> {
  const { client, bucket: Bucket, Key, key } = u;
  try {
    await u.retry(`aborting the multipart upload of ${key}`, () => client.send(new AbortMultipartUploadCommand({ Bucket, Key, UploadId })));
    return err;
  } catch (abortErr) {
    // The first failure is what the caller must know; that parts remain (until a lifecycle rule collects them) is said too.
    if (err instanceof Error)
      err.message += `; its uploaded parts could not be removed (${(abortErr as Error).message}): a bucket lifecycle rule (AbortIncompleteMultipartUpload) collects them`;
    return err;
  }
}
