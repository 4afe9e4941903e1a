import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type ListObjectsV2CommandOutput,
} from '@aws-sdk/client-s3';
import { DEFAULT_PART_BYTES, checkPartBytes, uploadInParts } from './multipart-upload';
import { checkKey, checkPrefix, type ObjectStore, type StoredObject } from './object-store';
import { withRetries } from './retry';
import { describeLocation, type S3Location } from './store-location';
import { storeTimingsFromEnv, timed, type StoreTimings } from './timings';

/**
 * The ObjectStore on an S3-compatible service (AWS S3, MinIO, Cloudflare R2, GCS's S3 interface). Only what all of
 * them serve is used: single-request PUT with a known length (a file over the part size: a multipart upload,
 * ./multipart-upload.ts), GET, HEAD, DELETE and ListObjectsV2, path-style addressing when an endpoint is given, and no
 * request checksums beyond what the service requires (R2 and GCS reject the SDK's default CRC trailers on streamed
 * bodies). Every call is retried through a store outage (./retry.ts).
 */

/** Per call: a best-effort caller (a checkpoint, a cleanup) waits less for the store than an artifact does. */
export interface CallOptions {
  retrySeconds?: number;
}

export interface S3StoreOptions {
  /** How long a call keeps retrying transient failures. */
  retrySeconds: number;
  /** The process's environment, for the credentials' values to scrub from messages (the SDK reads them itself). */
  env?: NodeJS.ProcessEnv;
  /**
   * putFile sends a file bigger than this as a multipart upload in parts of this size (default 64 MiB; S3 allows
   * 5 MiB to 5 GiB); a file of this size or less goes in one PUT.
   */
  partBytes?: number;
}

/** A connection that cannot be made in this long counts as a transient failure (and is retried). */
const CONNECT_TIMEOUT_MS = 5_000;
/** A request on which nothing moves for this long is abandoned and retried. */
const IDLE_TIMEOUT_MS = 30_000;

const QUIET = { trace() {}, debug() {}, info() {}, warn() {}, error() {} };

export class S3ObjectStore implements ObjectStore {
  readonly description: string;
  private readonly client: S3Client;
  private readonly secrets: string[];
  /** RANKWRIGHT_STORE_TIMINGS: one line per call, for the load bench (./timings.ts). */
  private readonly timings: StoreTimings | undefined;
  private readonly partBytes: number;

  constructor(
    readonly location: S3Location,
    private readonly opts: S3StoreOptions,
  ) {
    this.description = describeLocation(location);
    this.partBytes = checkPartBytes(opts.partBytes ?? DEFAULT_PART_BYTES);
    const env = opts.env ?? process.env;
    this.timings = storeTimingsFromEnv(env);
    this.secrets = [env.AWS_SECRET_ACCESS_KEY, env.AWS_SESSION_TOKEN].filter((s): s is string => !!s && s.length >= 4);
    this.client = new S3Client({
      region: location.region,
      ...(location.endpoint ? { endpoint: location.endpoint, forcePathStyle: true } : {}),
      // Retries are ours (bounded by time, long enough for a restart); the SDK's quick ones come first.
      maxAttempts: 2,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: { connectionTimeout: CONNECT_TIMEOUT_MS, requestTimeout: IDLE_TIMEOUT_MS },
      // Without a logger the SDK prints a line to the console for every failed streamed upload, once per try of an
      // outage; the failures that matter come out of our retries as errors that say what and where.
      logger: QUIET,
    });
  }

  async put(key: string, bytes: Uint8Array, call: CallOptions = {}): Promise<void> {
    const Key = this.key(key);
    await timed(
      this.timings,
      'put',
      key,
      () =>
        this.retry(
          `putting ${key} into ${this.description}`,
          () => this.client.send(new PutObjectCommand({ Bucket: this.location.bucket, Key, Body: bytes, ContentLength: bytes.byteLength })),
          call.retrySeconds,
        ),
      () => bytes.byteLength,
    );
  }

  async putFile(key: string, file: string, call: CallOptions = {}): Promise<void> {
    const Key = this.key(key);
    let sent = 0;
    await timed(
      this.timings,
      'put',
      key,
      () => this.putFileTries(Key, key, file, call, (size) => (sent = size)),
      () => sent,
    );
  }

  private async putFileTries(Key: string, key: string, file: string, call: CallOptions, sending: (size: number) => void): Promise<void> {
    // (A file that cannot be read takes the single PUT's path, which says so as it always has.)
    const size = await fs.promises.stat(file).then(
      (st) => st.size,
      () => 0,
    );
    if (size > this.partBytes) {
      await uploadInParts({
        client: this.client,
        bucket: this.location.bucket,
        Key,
        key,
        file,
        partBytes: this.partBytes,
        retry: (what, op) => this.retry(`${what} into ${this.description}`, op, call.retrySeconds),
        sending,
      });
      return;
    }
    await this.retry(
      `putting ${key} into ${this.description}`,
      async () => {
        // Opened again on every try: a stream half-consumed by a failed request cannot be sent twice.
        const { size } = await fs.promises.stat(file);
        sending(size);
        const body = fs.createReadStream(file);
        try {
          await this.client.send(new PutObjectCommand({ Bucket: this.location.bucket, Key, Body: body, ContentLength: size }));
        } finally {
          body.destroy();
        }
      },
      call.retrySeconds,
    );
  }

  async get(key: string, call: CallOptions = {}): Promise<Buffer | undefined> {
    const Key = this.key(key);
    return timed(
      this.timings,
      'get',
      key,
      () =>
        this.retry(
          `getting ${key} from ${this.description}`,
          async () => {
            const out = await this.client.send(new GetObjectCommand({ Bucket: this.location.bucket, Key })).catch(absentAs(undefined));
            if (!out) return undefined;
            return Buffer.from(await out.Body!.transformToByteArray());
          },
          call.retrySeconds,
        ),
      (got) => got?.byteLength ?? 0,
    );
  }

  async getToFile(key: string, file: string, call: CallOptions = {}): Promise<{ bytes: number; sha256: string } | undefined> {
    return timed(
      this.timings,
      'get',
      key,
      () => this.getToFileTries(key, file, call),
      (got) => got?.bytes ?? 0,
    );
  }

  private async getToFileTries(key: string, file: string, call: CallOptions): Promise<{ bytes: number; sha256: string } | undefined> {
    const Key = this.key(key);
    const tmp = `${file}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
    await fs.promises.mkdir(path.dirname(file), { recursive: true });
    try {
      const got = await this.retry(
        `getting ${key} from ${this.description}`,
        async () => {
          const out = await this.client.send(new GetObjectCommand({ Bucket: this.location.bucket, Key })).catch(absentAs(undefined));
          if (!out) return undefined;
          // Hashed as it streams to disk, so the caller can verify content without reading the file again. A download
          // cut off mid-way fails the whole try; the next one starts over into the same (truncated) temp file.
          const digest = createHash('sha256');
          let bytes = 0;
          const count = new Transform({
            transform(chunk: Buffer, _enc, done) {
              digest.update(chunk);
              bytes += chunk.length;
              done(null, chunk);
            },
          });
          await pipeline(out.Body as Readable, count, fs.createWriteStream(tmp));
          if (out.ContentLength !== undefined && bytes !== out.ContentLength)
            throw Object.assign(new Error(`the download ended after ${bytes} of ${out.ContentLength} bytes`), { code: 'ECONNRESET' });
          return { bytes, sha256: digest.digest('hex') };
        },
        call.retrySeconds,
      );
      if (got) await fs.promises.rename(tmp, file);
      return got;
    } finally {
      await fs.promises.rm(tmp, { force: true }).catch(() => {});
    }
  }

  async head(key: string, call: CallOptions = {}): Promise<StoredObject | undefined> {
    const Key = this.key(key);
    return timed(
      this.timings,
      'head',
      key,
      () =>
        this.retry(
          `looking up ${key} in ${this.description}`,
          async () => {
            const out = await this.client.send(new HeadObjectCommand({ Bucket: this.location.bucket, Key })).catch(absentAs(undefined));
            return out ? { key, bytes: out.ContentLength ?? 0 } : undefined;
          },
          call.retrySeconds,
        ),
      () => 0,
    );
  }

  async *list(prefix: string, call: CallOptions = {}): AsyncIterable<StoredObject> {
    checkPrefix(prefix);
    let token: string | undefined;
    do {
      const page: ListObjectsV2CommandOutput = await this.retry(
        `listing ${prefix || 'everything'} in ${this.description}`,
        () =>
          this.client.send(
            new ListObjectsV2Command({ Bucket: this.location.bucket, Prefix: this.location.prefix + prefix, ContinuationToken: token }),
          ),
        call.retrySeconds,
      );
      for (const o of page.Contents ?? [])
        if (o.Key?.startsWith(this.location.prefix)) yield { key: o.Key.slice(this.location.prefix.length), bytes: o.Size ?? 0 };
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async delete(key: string, call: CallOptions = {}): Promise<void> {
    const Key = this.key(key);
    await timed(
      this.timings,
      'delete',
      key,
      () =>
        this.retry(
          `deleting ${key} from ${this.description}`,
          () => this.client.send(new DeleteObjectCommand({ Bucket: this.location.bucket, Key })),
          call.retrySeconds,
        ),
      () => 0,
    );
  }

  /** One cheap authenticated request (a one-key listing under the prefix): the store is there and lets us in. */
  async check(retrySeconds = this.opts.retrySeconds): Promise<void> {
    await this.retry(
      `reaching ${this.description}`,
      () => this.client.send(new ListObjectsV2Command({ Bucket: this.location.bucket, Prefix: this.location.prefix, MaxKeys: 1 })),
      retrySeconds,
    );
  }

  /** Closes the client's sockets (a CLI command exits sooner). */
  close(): void {
    this.client.destroy();
  }

  private key(key: string): string {
    return this.location.prefix + checkKey(key);
  }

  private retry<T>(what: string, op: () => Promise<T>, seconds?: number): Promise<T> {
    return withRetries(op, { what, seconds: seconds ?? this.opts.retrySeconds, scrub: (text) => this.scrub(text) });
  }

  /** Defence in depth: no SDK message is known to quote a secret, but none that does is ever passed on. */
  private scrub(text: string): string {
    let out = text;
    for (const secret of this.secrets) out = out.split(secret).join('***');
    return out;
  }
}

/** A 404 (NoSuchKey, NotFound) is an answer, not a failure: the object is not there. */
function absentAs<T>(value: T): (err: unknown) => T {
  return (err: unknown) => {
    const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
    if (e?.name === 'NoSuchKey' || e?.name === 'NotFound' || (e?.$metadata?.httpStatusCode === 404 && e?.name !== 'NoSuchBucket')) return value;
    throw err;
  };
}
