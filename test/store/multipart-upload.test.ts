import { strict as assert } from 'node:assert';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { HeadObjectCommand, ListMultipartUploadsCommand, S3Client } from '@aws-sdk/client-s3';
import { openS3Store, storeLocation, type S3ObjectStore } from '../../store/object-store';
import { partBytesFor } from '../../store/object-store/multipart-upload';
import { startMinioAsync, stopMinio, useMinioStore, type StoreVariables } from '../support/minio';

/**
 * Files bigger than the part size go to the real MinIO as multipart uploads: read back byte-identical, carried
 * through an outage part by part, and aborted (no parts left behind) when they fail.
 */

const MiB = 2 ** 20;

function tempDir(name: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `rw-${name}-`));
}

/** A file of `mib` MiB, no two alike (one random MiB, its first bytes the MiB's number), and its SHA-256. */
function randomFile(dir: string, name: string, mib: number): { file: string; sha256: string; size: number } {
  const file = path.join(dir, name);
  const fd = fs.openSync(file, 'w');
  const h = createHash('sha256');
  const chunk = randomBytes(MiB);
  for (let i = 0; i < mib; i++) {
    chunk.writeUInt32LE(i, 0);
    h.update(chunk);
    fs.writeSync(fd, chunk);
  }
  fs.closeSync(fd);
  return { file, sha256: h.digest('hex'), size: mib * MiB };
}

describe('store/object-store: multipart uploads of big files (MinIO)', function () {
  this.timeout(180_000);
  let vars: StoreVariables;
  let prefix: string;
  let restore: () => void;
  let store: S3ObjectStore;
  /** A plain client on the same bucket, to see what the store's interface does not show: ETags, unfinished uploads. */
  let s3: S3Client;

  beforeEach(() => {
    ({ vars, prefix, restore } = useMinioStore());
    store = openS3Store(storeLocation()!, { retrySeconds: 60, partBytes: 5 * MiB });
    s3 = new S3Client({ region: vars.AWS_REGION, endpoint: vars.AWS_ENDPOINT_URL, forcePathStyle: true });
  });
  afterEach(async () => {
    for await (const o of store.list('')) await store.delete(o.key);
    store.close();
    s3.destroy();
    restore();
  });

  const etagOf = async (key: string) =>
    (await s3.send(new HeadObjectCommand({ Bucket: 'rankwright', Key: `${prefix}${key}` }))).ETag!.replace(/"/g, '');
  // (MinIO lists the unfinished uploads of one key: the prefix must be the whole key.)
  const unfinishedUploads = async (key: string) =>
    ((await s3.send(new ListMultipartUploadsCommand({ Bucket: 'rankwright', Prefix: `${prefix}${key}` }))).Uploads ?? []).map((u) => u.Key);

  it('a 12 MiB file goes up in three 5 MiB parts and reads back byte-identical; a 5 MiB one in a single PUT', async () => {
    const dir = tempDir('multipart');
    const big = randomFile(dir, 'big.bin', 12);
    await store.putFile('row-caches/big.rows', big.file);
    // S3's ETag of a multipart object is the MD5 of its parts' MD5s, followed by "-<parts>".
    assert.match(await etagOf('row-caches/big.rows'), /^[0-9a-f]{32}-3$/);
    assert.deepEqual(await store.head('row-caches/big.rows'), { key: 'row-caches/big.rows', bytes: big.size });
    assert.deepEqual(await store.getToFile('row-caches/big.rows', path.join(dir, 'copy.bin')), { bytes: big.size, sha256: big.sha256 });
    assert.ok(fs.readFileSync(path.join(dir, 'copy.bin')).equals(fs.readFileSync(big.file)), 'byte-identical');

    const small = randomFile(dir, 'small.bin', 5);
    await store.putFile('row-caches/small.rows', small.file);
    assert.match(await etagOf('row-caches/small.rows'), /^[0-9a-f]{32}$/, 'one PUT: a plain MD5 ETag');
    assert.deepEqual(await store.getToFile('row-caches/small.rows', path.join(dir, 'small-copy.bin')), { bytes: small.size, sha256: small.sha256 });
    assert.deepEqual(await unfinishedUploads('row-caches/big.rows'), []);
  });

  it('refuses a part size S3 would not take, and grows the part size of a file that would need over 10,000 parts', () => {
    assert.throws(
      () => openS3Store(storeLocation()!, { retrySeconds: 1, partBytes: MiB }),
      /partBytes 1048576 is not a part size S3 accepts: a whole number of bytes from 5242880 \(5 MiB\) to 5368709120 \(5 GiB\)/,
    );
    assert.equal(partBytesFor(6e9, 64 * MiB), 64 * MiB);
    const grown = partBytesFor(1e12, 64 * MiB);
    assert.ok(grown > 64 * MiB && Math.ceil(1e12 / grown) <= 10_000 && grown % MiB === 0, `${grown}`);
  });

  it('rides out the store stopping mid-upload: the parts are retried and the object is whole', async function () {
    this.timeout(300_000);
    const dir = tempDir('multipart-outage');
    const big = randomFile(dir, 'big.bin', 400);
    const upload = store.putFile('row-caches/outage.rows', big.file);
    let settled = false;
    void upload.finally(() => (settled = true)).catch(() => {});
    // Once the upload has begun (it is listed), the store goes away for 5 s.
    while ((await unfinishedUploads('row-caches/outage.rows')).length === 0 && !settled) await new Promise((r) => setTimeout(r, 10));
    assert.ok(!settled, 'the upload was still under way when the store stopped');
    stopMinio();
    let restarted = false;
    try {
      await new Promise((r) => setTimeout(r, 5_000));
      assert.ok(!settled, 'the upload waited for the store');
      await startMinioAsync();
      restarted = true;
      await upload;
    } finally {
      if (!restarted) await startMinioAsync();
    }
    assert.match(await etagOf('row-caches/outage.rows'), /^[0-9a-f]{32}-80$/);
    assert.deepEqual(await store.getToFile('row-caches/outage.rows', path.join(dir, 'copy.bin')), { bytes: big.size, sha256: big.sha256 });
    assert.deepEqual(await unfinishedUploads('row-caches/outage.rows'), []);
  });

  it('a failed upload is aborted: no object, no parts left in the bucket', async () => {
    const dir = tempDir('multipart-abort');
    const big = randomFile(dir, 'big.bin', 200);
    const upload = store.putFile('row-caches/torn.rows', big.file);
    let settled = false;
    void upload.finally(() => (settled = true)).catch(() => {});
    while ((await unfinishedUploads('row-caches/torn.rows')).length === 0 && !settled) await new Promise((r) => setTimeout(r, 10));
    assert.ok(!settled, 'the upload was still under way when its file changed');
    // The file shrinks under the upload: its remaining parts would belong to another file, so the upload gives up.
    fs.truncateSync(big.file, 7 * MiB);
    await assert.rejects(
      upload,
      /putting part \d+ of 40 of row-caches\/torn\.rows into s3:\/\/rankwright\/test-.* failed: .*big\.bin changed while it was being uploaded \(209715200 bytes, now 7340032\)/,
    );
    assert.deepEqual(await unfinishedUploads('row-caches/torn.rows'), [], 'the upload was aborted');
    assert.equal(await store.head('row-caches/torn.rows'), undefined);
  });
});
