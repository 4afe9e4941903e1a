import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client, type ListObjectsV2CommandOutput } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { checkKey, checkPrefix } from './object-store';
import { retrySecondsFromEnv, withRetries } from './retry';
import { describeLocation, type S3Location } from './store-location';

/**
 * What external training jobs and store-side retention need from the S3 store beyond the ObjectStore interface:
 * presigned URLs (a trainer on another machine reads a job's data and writes its outputs with no store credentials),
 * listings that carry each object's write time (retention spares what is younger than its minimum age), and part of
 * an object (the end of a job's log, the header of an artifact). Kept beside s3-store.ts rather than in it, with a client of its own built
 * the same way (same location, path-style with an endpoint, checksums only where required).
 */

/** SigV4 presigned URLs live at most 7 days. */
export const MAX_PRESIGN_SECONDS = 7 * 86_400;

export interface DatedObject {
  key: string;
  bytes: number;
  /** When the store last wrote it (its LastModified), in ms since the epoch. */
  writtenMs: number;
}

export class S3StoreExtras {
  private readonly client: S3Client;
  private readonly description: string;

  constructor(
    readonly location: S3Location,
    private readonly retrySeconds = retrySecondsFromEnv(),
  ) {
    this.description = describeLocation(location);
    this.client = new S3Client({
      region: location.region,
      ...(location.endpoint ? { endpoint: location.endpoint, forcePathStyle: true } : {}),
      maxAttempts: 2,
      // A presigned PUT must not ask its holder for a checksum it cannot know in advance.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  /** A URL that GETs one object for `seconds` (at most 7 days), to whoever holds it. */
  presignGet(key: string, seconds: number): Promise<string> {
    return getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.location.bucket, Key: this.key(key) }), {
      expiresIn: presignSeconds(seconds),
    });
  }

  /** A URL that PUTs (creates or replaces) one object for `seconds` (at most 7 days), to whoever holds it. */
  presignPut(key: string, seconds: number): Promise<string> {
    return getSignedUrl(this.client, new PutObjectCommand({ Bucket: this.location.bucket, Key: this.key(key) }), {
      expiresIn: presignSeconds(seconds),
    });
  }

  /** Every object under `prefix` with its size and write time, in no promised order. */
  async *listDated(prefix: string, retrySeconds = this.retrySeconds): AsyncIterable<DatedObject> {
    checkPrefix(prefix);
    let token: string | undefined;
    do {
      const page: ListObjectsV2CommandOutput = await withRetries(
        () =>
          this.client.send(
            new ListObjectsV2Command({ Bucket: this.location.bucket, Prefix: this.location.prefix + prefix, ContinuationToken: token }),
          ),
        { what: `listing ${prefix || 'everything'} in ${this.description}`, seconds: retrySeconds },
      );
      for (const o of page.Contents ?? [])
        if (o.Key?.startsWith(this.location.prefix))
          yield { key: o.Key.slice(this.location.prefix.length), bytes: o.Size ?? 0, writtenMs: o.LastModified?.getTime() ?? 0 };
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  /** The last `bytes` bytes of an object (all of it when smaller), or undefined when there is none. */
  tail(key: string, bytes: number, retrySeconds = this.retrySeconds): Promise<Buffer | undefined> {
    return this.range(key, `bytes=-${bytes}`, retrySeconds);
  }

  /** The first `bytes` bytes of an object (all of it when smaller), or undefined when there is none. */
  start(key: string, bytes: number, retrySeconds = this.retrySeconds): Promise<Buffer | undefined> {
    return this.range(key, `bytes=0-${bytes - 1}`, retrySeconds);
  }

  private async range(key: string, Range: string, retrySeconds: number): Promise<Buffer | undefined> {
    const Key = this.key(key);
    return withRetries(
      async () => {
        try {
          const out = await this.client.send(new GetObjectCommand({ Bucket: this.location.bucket, Key, Range }));
          return Buffer.from(await out.Body!.transformToByteArray());
        } catch (err) {
          const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
          if (e.name === 'NoSuchKey' || e.name === 'NotFound' || e.$metadata?.httpStatusCode === 404) return undefined;
          // An empty object has no last bytes to range over.
          if (e.$metadata?.httpStatusCode === 416) return Buffer.alloc(0);
          throw err;
        }
      },
      { what: `reading part of ${key} in ${this.description}`, seconds: retrySeconds },
    );
  }

  close(): void {
    this.client.destroy();
  }

  private key(key: string): string {
    return this.location.prefix + checkKey(key);
  }
}

function presignSeconds(seconds: number): number {
  if (!Number.isFinite(seconds) || seconds < 1) throw new Error(`a presigned URL needs a lifetime of at least 1 s, got ${seconds}`);
  return Math.min(MAX_PRESIGN_SECONDS, Math.ceil(seconds));
}

let shared: { location: string; extras: S3StoreExtras } | undefined;

/** One extras client per process and location (the shared store's), reusing its connections. */
export function storeExtras(location: S3Location): S3StoreExtras {
  const key = JSON.stringify(location);
  if (shared?.location === key) return shared.extras;
  shared?.extras.close();
  shared = { location: key, extras: new S3StoreExtras(location) };
  return shared.extras;
}
