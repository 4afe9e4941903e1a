import { strict as assert } from 'node:assert';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { putArtifact } from '../../store/artifacts';
import {
  LocalFolderStore,
  StoreUnavailableError,
  openS3Store,
  checkSharedStore,
  whileWaitingForStore,
  parseStoreUrl,
  retrySecondsFromEnv,
  storeLocation,
  type ObjectStore,
  type S3ObjectStore,
} from '../../store/object-store';
import { minioForTests, useMinioStore } from '../support/minio';
import { runCli } from '../support/processes';
import { eventually } from '../support/workers';

const SECRET = 'hunter2-secret-key-value';

function tempDir(name: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `rw-${name}-`));
}

async function keysUnder(store: ObjectStore, prefix = ''): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of store.list(prefix)) keys.push(o.key);
  return keys.sort();
}

/** Removes what a test wrote under its prefix, so the bucket does not fill up across runs. */
async function emptyPrefix(store: ObjectStore): Promise<void> {
  for (const key of await keysUnder(store)) await store.delete(key);
}

/** A MinIO store under a prefix of the test's own, built the way the worker builds it: from the environment. */
function minioStore(): { store: S3ObjectStore; restore: () => void } {
  const { restore } = useMinioStore();
  const store = openS3Store(storeLocation()!, { retrySeconds: 60 });
  return { store, restore };
}

describe('store/object-store: RANKWRIGHT_STORE and the AWS variables', () => {
  const env = (vars: NodeJS.ProcessEnv) => ({ ...vars }) as NodeJS.ProcessEnv;

  it('is the home alone when unset; parses s3://bucket/prefix with the endpoint (path-style) and region', () => {
    assert.equal(storeLocation(env({})), undefined);
    assert.equal(storeLocation(env({ RANKWRIGHT_STORE: '  ' })), undefined);
    assert.deepEqual(storeLocation(env({ RANKWRIGHT_STORE: 's3://rankwright/' })), {
      kind: 's3',
      bucket: 'rankwright',
      prefix: '',
      region: 'us-east-1',
    });
    assert.deepEqual(
      storeLocation(env({ RANKWRIGHT_STORE: 's3://team.models/fleet/prod', AWS_ENDPOINT_URL: 'http://127.0.0.1:9000/', AWS_REGION: 'auto' })),
      { kind: 's3', bucket: 'team.models', prefix: 'fleet/prod/', region: 'auto', endpoint: 'http://127.0.0.1:9000' },
    );
  });

  it('says which part of a bad RANKWRIGHT_STORE is wrong', () => {
    const cases: [string, RegExp][] = [
      ['rankwright', /RANKWRIGHT_STORE is not a URL \(expected s3:\/\/BUCKET\/PREFIX/],
      ['gs://bucket/x', /RANKWRIGHT_STORE has scheme 'gs:': only s3:\/\/ is supported/],
      ['s3:bucket/x', /RANKWRIGHT_STORE must start with s3:\/\//],
      ['s3:///prefix', /RANKWRIGHT_STORE names no bucket/],
      ['s3://Bad_Bucket/x', /RANKWRIGHT_STORE names bucket "Bad_Bucket": a bucket name is 3 to 63 lowercase letters/],
      ['s3://ab/x', /names bucket "ab"/],
      ['s3://bucket:9000/x', /RANKWRIGHT_STORE has a port after the bucket: .*set AWS_ENDPOINT_URL/],
      ['s3://bucket/a//b', /RANKWRIGHT_STORE has an empty prefix segment/],
      ['s3://bucket/a/../b', /RANKWRIGHT_STORE has a '\.\.' prefix segment/],
      ['s3://bucket/a b/', /RANKWRIGHT_STORE has prefix segment "a b"/],
      ['s3://bucket/x?versionId=1', /RANKWRIGHT_STORE has a query or fragment/],
    ];
    for (const [value, expected] of cases) assert.throws(() => storeLocation(env({ RANKWRIGHT_STORE: value })), expected, value);
  });

  it('refuses credentials in RANKWRIGHT_STORE or AWS_ENDPOINT_URL without echoing them', () => {
    for (const [vars, expected] of [
      [{ RANKWRIGHT_STORE: `s3://AKIAEXAMPLE:${SECRET}@bucket/x` }, /RANKWRIGHT_STORE must not carry credentials/],
      [{ RANKWRIGHT_STORE: 's3://bucket/x', AWS_ENDPOINT_URL: `http://key:${SECRET}@127.0.0.1:9000` }, /AWS_ENDPOINT_URL must not carry credentials/],
    ] as const)
      assert.throws(
        () => storeLocation(env(vars)),
        (err: Error) => expected.test(err.message) && !err.message.includes(SECRET),
      );
  });

  it('says what is wrong with AWS_ENDPOINT_URL and RANKWRIGHT_STORE_RETRY_SECONDS', () => {
    const withEndpoint = (AWS_ENDPOINT_URL: string) => () => storeLocation(env({ RANKWRIGHT_STORE: 's3://bucket/', AWS_ENDPOINT_URL }));
    assert.throws(withEndpoint('127.0.0.1:9000'), /AWS_ENDPOINT_URL is not a URL \(expected http\(s\):\/\/HOST\[:PORT\]/);
    assert.throws(withEndpoint('minio:9000'), /AWS_ENDPOINT_URL has scheme 'minio:': expected http:\/\/ or https:\/\//);
    assert.throws(withEndpoint('ftp://host'), /AWS_ENDPOINT_URL has scheme 'ftp:'/);
    assert.throws(withEndpoint('http://host:9000/bucket'), /AWS_ENDPOINT_URL has a path \(\/bucket\).*put a key prefix in RANKWRIGHT_STORE/);
    assert.throws(
      () => retrySecondsFromEnv(env({ RANKWRIGHT_STORE_RETRY_SECONDS: 'soon' })),
      /RANKWRIGHT_STORE_RETRY_SECONDS="soon" must be a number of seconds/,
    );
    assert.equal(retrySecondsFromEnv(env({})), 120);
    assert.throws(() => parseStoreUrl('s3://x/', env({}), '--to'), /--to names bucket "x"/);
  });
});

describe('store/object-store: the same interface on a local folder and on MinIO', function () {
  this.timeout(180_000);
  const backends: { name: string; open(): { store: ObjectStore; restore: () => void } }[] = [
    { name: 'local folder', open: () => ({ store: new LocalFolderStore(tempDir('store')), restore: () => undefined }) },
    { name: 'MinIO (S3)', open: minioStore },
  ];

  for (const backend of backends) {
    it(`${backend.name}: put, get, head, list and delete round-trip; a missing key is undefined, not an error`, async () => {
      const { store, restore } = backend.open();
      try {
        const bytes = randomBytes(1000);
        await store.put('artifacts/ab/one', bytes);
        await store.put('artifacts/cd/two', Buffer.from('two'));
        await store.put('reports/r.html', Buffer.from('<p>'));
        assert.deepEqual(await store.get('artifacts/ab/one'), bytes);
        assert.deepEqual(await store.head('artifacts/ab/one'), { key: 'artifacts/ab/one', bytes: 1000 });
        assert.deepEqual(await keysUnder(store, 'artifacts/'), ['artifacts/ab/one', 'artifacts/cd/two']);
        assert.deepEqual(await keysUnder(store), ['artifacts/ab/one', 'artifacts/cd/two', 'reports/r.html']);
        await store.put('artifacts/cd/two', Buffer.from('replaced'));
        assert.equal((await store.get('artifacts/cd/two'))!.toString(), 'replaced');
        await store.delete('artifacts/ab/one');
        await store.delete('artifacts/ab/one'); // deleting what is gone is not an error
        assert.equal(await store.get('artifacts/ab/one'), undefined);
        assert.equal(await store.head('artifacts/ab/one'), undefined);
        assert.equal(await store.getToFile('artifacts/ab/one', path.join(tempDir('dl'), 'x')), undefined);
        assert.deepEqual(await keysUnder(store, 'artifacts/'), ['artifacts/cd/two']);
        await assert.rejects(store.head('../etc/passwd'), /invalid object key/);
        await assert.rejects(store.put('a//b', Buffer.from('x')), /invalid object key/);
        await emptyPrefix(store);
      } finally {
        restore();
      }
    });

    it(`${backend.name}: streams a 48 MB file in and out, hashing it on the way`, async () => {
      const { store, restore } = backend.open();
      try {
        const dir = tempDir('big');
        const source = path.join(dir, 'big.bin');
        const chunk = randomBytes(1 << 20);
        const out = fs.createWriteStream(source);
        for (let i = 0; i < 48; i++) out.write(Buffer.concat([chunk, Buffer.from([i])]).subarray(1));
        await new Promise((r) => out.end(r));
        const size = fs.statSync(source).size;
        const sha = createHash('sha256').update(fs.readFileSync(source)).digest('hex');
        await store.putFile('blobs/big', source);
        assert.deepEqual(await store.head('blobs/big'), { key: 'blobs/big', bytes: size });
        const copy = path.join(dir, 'copy.bin');
        assert.deepEqual(await store.getToFile('blobs/big', copy), { bytes: size, sha256: sha });
        assert.equal(createHash('sha256').update(fs.readFileSync(copy)).digest('hex'), sha);
        assert.deepEqual(fs.readdirSync(dir).sort(), ['big.bin', 'copy.bin'], 'no temporary file is left beside the copy');
        await emptyPrefix(store);
      } finally {
        restore();
      }
    });
  }
});

describe('store/object-store: failures are clear and never show a credential', function () {
  this.timeout(120_000);

  it('a store that stays unreachable fails a put after RANKWRIGHT_STORE_RETRY_SECONDS, as a retryable StoreUnavailableError; the home keeps its copy', async () => {
    const saved = { ...process.env };
    Object.assign(process.env, {
      RANKWRIGHT_STORE: 's3://rankwright/unreachable/',
      AWS_ENDPOINT_URL: 'http://127.0.0.1:1',
      AWS_ACCESS_KEY_ID: 'rankwright',
      AWS_SECRET_ACCESS_KEY: SECRET,
      RANKWRIGHT_STORE_RETRY_SECONDS: '2',
    });
    // A training says it is alive at every retry (workers/training-thread.ts): its heartbeats go on.
    let retries = 0;
    try {
      const started = Date.now();
      const content = `kept-${Date.now()}-${Math.random()}`;
      const err = await whileWaitingForStore(
        () => retries++,
        () => putArtifact(content),
      ).then(
        () => assert.fail('put into an unreachable store succeeded'),
        (e: Error) => e,
      );
      assert.ok(retries >= 2, `the retry listener heard ${retries} retries`);
      assert.ok(err instanceof StoreUnavailableError, `${err.name}: ${err.message}`);
      assert.match(
        err.message,
        /putting artifacts\/[0-9a-f]{2}\/[0-9a-f]{64} into s3:\/\/rankwright\/unreachable\/ at http:\/\/127\.0\.0\.1:1 failed/,
      );
      assert.match(err.message, /unavailable for 2 s \(\d+ tries; last: .*ECONNREFUSED/);
      assert.ok(Date.now() - started >= 1500, 'it retried for the configured time');
      assert.ok(!err.message.includes(SECRET));
      const hex = createHash('sha256').update(content).digest('hex');
      assert.ok(fs.existsSync(path.join(process.env.RANKWRIGHT_HOME!, 'artifacts', hex.slice(0, 2), hex)), 'the home has the artifact');
    } finally {
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
    }
  });

  it('a store that accepts a connection but does not answer (starting up) still hears the waiting work say it is alive', async () => {
    // A server that takes connections and never answers, as a store does while it starts: no request fails for the
    // client's 30 s idle timeout, so there is no retry to heartbeat at; a training's heartbeat timeout is 20 s.
    const sockets: net.Socket[] = [];
    const silent = net.createServer((s) => void sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as net.AddressInfo).port;
    const vars = { RANKWRIGHT_STORE: 's3://rankwright/silent/', AWS_ENDPOINT_URL: `http://127.0.0.1:${port}`, AWS_REGION: 'us-east-1' };
    const saved = { AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY };
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'rankwright', AWS_SECRET_ACCESS_KEY: SECRET });
    const store = openS3Store(storeLocation(vars)!, { retrySeconds: 0 });
    let alive = 0;
    try {
      const started = Date.now();
      const head = whileWaitingForStore(
        () => alive++,
        () => store.head('models/any'),
      ).then(
        () => assert.fail('a head on a silent store succeeded'),
        (e: Error) => e,
      );
      await eventually(async () => (sockets.length > 0 && alive > 0 ? true : undefined), 15_000, 'an alive call while the request hangs');
      assert.ok(Date.now() - started < 15_000);
      // The store goes away: the request fails (retry time 0, so at once), and the calls stop with it.
      for (const s of sockets) s.destroy();
      silent.close();
      const err = await head;
      assert.ok(err instanceof StoreUnavailableError, `${err.name}: ${err.message}`);
      assert.ok(!err.message.includes(SECRET));
      const heard = alive;
      await new Promise((r) => setTimeout(r, 6_000));
      assert.equal(alive, heard, 'no alive calls once the request has ended');
    } finally {
      for (const [name, value] of Object.entries(saved))
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      for (const s of sockets) s.destroy();
      silent.close();
    }
  });

  it('wrong credentials fail at once (not retried), naming the store and the refusal, never the secret', async () => {
    const vars = minioForTests();
    const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
    // The right user with a wrong secret: the SDK reads both from the environment when it first signs.
    process.env.AWS_ACCESS_KEY_ID = vars.AWS_ACCESS_KEY_ID;
    process.env.AWS_SECRET_ACCESS_KEY = SECRET;
    const store = openS3Store(storeLocation({ ...vars, RANKWRIGHT_STORE: `${vars.RANKWRIGHT_STORE}x/` })!, { retrySeconds: 60 });
    try {
      const started = Date.now();
      const err = await store.put('k', Buffer.from('x')).then(
        () => assert.fail('a wrong secret was accepted'),
        (e: Error) => e,
      );
      assert.ok(Date.now() - started < 20_000, 'a refusal is not retried for the whole retry time');
      assert.match(err.message, /putting k into s3:\/\/rankwright\/x\/ at http:\/\/127\.0\.0\.1:\d+ failed: SignatureDoesNotMatch/);
      assert.ok(!err.message.includes(SECRET));
    } finally {
      store.close();
      for (const [name, value] of [
        ['AWS_ACCESS_KEY_ID', saved.id],
        ['AWS_SECRET_ACCESS_KEY', saved.secret],
      ] as const)
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
    }
  });

  it('the worker checks the store at start: an unreachable one stops it with where and why, before it serves', async () => {
    const { code, stdout, stderr } = await runCli(['worker', '--queue', 'agent'], {
      RANKWRIGHT_STORE: 's3://rankwright/fleet/',
      AWS_ENDPOINT_URL: 'http://127.0.0.1:1',
      AWS_ACCESS_KEY_ID: 'rankwright',
      AWS_SECRET_ACCESS_KEY: SECRET,
      RANKWRIGHT_STORE_RETRY_SECONDS: '1',
    });
    assert.notEqual(code, 0);
    assert.match(
      stderr,
      /the artifact store s3:\/\/rankwright\/fleet\/ at http:\/\/127\.0\.0\.1:1 \(RANKWRIGHT_STORE\) cannot be used: .*ECONNREFUSED/,
    );
    assert.ok(!(stdout + stderr).includes(SECRET), 'the secret is never printed');
    assert.doesNotMatch(stderr, /serving/, 'it never started serving');
    const bad = await runCli(['worker', '--queue', 'agent'], { RANKWRIGHT_STORE: 's3://Fleet/' });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /the artifact store is misconfigured: RANKWRIGHT_STORE names bucket "Fleet"/);
  });

  it('checkSharedStore answers with where the store is when it is reachable', async () => {
    const { vars, restore } = useMinioStore();
    try {
      assert.match(await checkSharedStore(), new RegExp(`^s3://rankwright/test-.*/ at ${vars.AWS_ENDPOINT_URL.replace(/\./g, '\\.')}$`));
    } finally {
      restore();
    }
  });
});

describe('store/object-store: RANKWRIGHT_STORE_TIMINGS (what the load bench reads)', function () {
  this.timeout(120_000);

  it('a put, a putFile, a get and a getToFile each append one line: op, key kind, bytes, ms; never the key', async () => {
    const { restore } = useMinioStore();
    const timings = path.join(tempDir('timings'), 'store-calls.jsonl');
    const store = openS3Store(storeLocation()!, { retrySeconds: 60, env: { ...process.env, RANKWRIGHT_STORE_TIMINGS: timings } });
    try {
      const file = path.join(tempDir('timed'), 'ckpt.bin');
      fs.writeFileSync(file, randomBytes(2048));
      await store.put('artifacts/ab/timed-one', randomBytes(1000));
      await store.putFile('checkpoints/c1/e1/ckpt.bin', file);
      assert.equal((await store.get('artifacts/ab/timed-one'))!.byteLength, 1000);
      assert.equal((await store.getToFile('checkpoints/c1/e1/ckpt.bin', path.join(tempDir('dl'), 'ckpt.bin')))!.bytes, 2048);
      assert.equal(await store.get('artifacts/ab/absent'), undefined);
      const text = fs.readFileSync(timings, 'utf8');
      const lines = text
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { op: string; kind: string; bytes: number; ms: number; ok: boolean });
      assert.deepEqual(
        lines.map(({ op, kind, bytes, ok }) => ({ op, kind, bytes, ok })),
        [
          { op: 'put', kind: 'artifacts', bytes: 1000, ok: true },
          { op: 'put', kind: 'checkpoints', bytes: 2048, ok: true },
          { op: 'get', kind: 'artifacts', bytes: 1000, ok: true },
          { op: 'get', kind: 'checkpoints', bytes: 2048, ok: true },
          { op: 'get', kind: 'artifacts', bytes: 0, ok: true },
        ],
      );
      for (const line of lines) assert.ok(line.ms >= 0 && Number.isFinite(line.ms), `a duration in ms: ${line.ms}`);
      assert.ok(!text.includes('timed-one') && !text.includes('rankwright'), 'no key, bucket or prefix in the lines');
      await emptyPrefix(store);
      const before = fs.readFileSync(timings, 'utf8');
      assert.match(before.slice(text.length), /^(\{"op":"delete","kind":"(artifacts|checkpoints)","bytes":0,"ms":[\d.]+,"ok":true\}\n){2}$/);
      // Unset: the store writes nothing anywhere.
      const quiet = openS3Store(storeLocation()!, { retrySeconds: 60, env: { ...process.env, RANKWRIGHT_STORE_TIMINGS: '' } });
      await quiet.put('artifacts/ab/quiet', Buffer.from('x'));
      await quiet.delete('artifacts/ab/quiet');
      assert.equal(fs.readFileSync(timings, 'utf8'), before, 'nothing more was appended');
      quiet.close();
    } finally {
      store.close();
      restore();
    }
  });
});
