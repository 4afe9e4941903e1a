import { strict as assert } from 'node:assert';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { artifactKey, artifactPath, getArtifact, putArtifact } from '../../store/artifacts';
import { sharedStore, storeLocation } from '../../store/object-store';
import { storeExtras } from '../../store/object-store/s3-extras';
import { startMinioAsync, stopMinio, useMinioStore, type StoreVariables } from '../support/minio';
import { runCli } from '../support/processes';

/**
 * Artifacts with RANKWRIGHT_STORE set: written to the home and the shared store, read from any home that shares only
 * the store, verified on the way, and kept safe through the store's outage.
 */

function newHome(name: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `rw-home-${name}-`));
}

/** Runs `body` with RANKWRIGHT_HOME set to `home`, as a process started there would have it. */
async function inHome<T>(home: string, body: () => Promise<T>): Promise<T> {
  const saved = process.env.RANKWRIGHT_HOME;
  process.env.RANKWRIGHT_HOME = home;
  try {
    return await body();
  } finally {
    process.env.RANKWRIGHT_HOME = saved;
  }
}

/** Runs `body` as a process without RANKWRIGHT_STORE (one machine, the home alone). */
async function withoutStore<T>(body: () => Promise<T>): Promise<T> {
  const saved = process.env.RANKWRIGHT_STORE;
  delete process.env.RANKWRIGHT_STORE;
  try {
    return await body();
  } finally {
    process.env.RANKWRIGHT_STORE = saved;
  }
}

async function emptyStore(): Promise<void> {
  const store = sharedStore();
  if (!store) return;
  for await (const o of store.list('')) await store.delete(o.key);
}

describe('store/artifacts with a shared store (MinIO)', function () {
  this.timeout(240_000);
  let vars: StoreVariables;
  let restore: () => void;

  beforeEach(() => {
    ({ vars, restore } = useMinioStore());
  });
  afterEach(async () => {
    await emptyStore();
    restore();
  });

  it('an artifact put with home A is in the store, and read from an empty home B (verified, then kept there)', async () => {
    const bytes = randomBytes(200_000);
    const ref = await inHome(newHome('a'), () => putArtifact(bytes));
    assert.deepEqual(await sharedStore()!.head(artifactKey(ref)), { key: artifactKey(ref), bytes: bytes.length });
    const homeB = newHome('b');
    await inHome(homeB, async () => {
      assert.ok(!fs.existsSync(artifactPath(ref)));
      assert.deepEqual(await getArtifact(ref), bytes);
      assert.ok(fs.existsSync(artifactPath(ref)), 'home B now caches it');
      assert.deepEqual(fs.readdirSync(path.dirname(artifactPath(ref))), [path.basename(artifactPath(ref))], 'no temporary file left');
    });
    // Without the store, home B still has it: the cache is a real copy.
    await withoutStore(() => inHome(homeB, async () => assert.deepEqual(await getArtifact(ref), bytes)));
  });

  it('an artifact the home had before the store was set is uploaded the next time it is put', async () => {
    const home = newHome('old');
    const ref = await withoutStore(() => inHome(home, () => putArtifact('made before the fleet')));
    assert.equal(await sharedStore()!.head(artifactKey(ref)), undefined);
    assert.equal(await inHome(home, () => putArtifact('made before the fleet')), ref);
    assert.ok(await sharedStore()!.head(artifactKey(ref)));
  });

  it('an artifact produced again renews its write time in the store, so a gc of the store spares it', async () => {
    const ref = await inHome(newHome('first'), () => putArtifact('the same model twice'));
    const writtenAt = async () => {
      for await (const o of storeExtras(storeLocation()!).listDated(artifactKey(ref))) return o.writtenMs;
      return undefined;
    };
    const first = await writtenAt();
    assert.ok(first !== undefined);
    await new Promise((r) => setTimeout(r, 1_100)); // S3 write times are in whole seconds
    // Another machine produces the same bytes: the store's copy is written again, not taken as it was.
    assert.equal(await inHome(newHome('again'), () => putArtifact('the same model twice')), ref);
    assert.ok((await writtenAt())! > first, 'the store copy is renewed');
  });

  it('a missing artifact names the home and the store; a corrupt copy in the store is refused and not cached', async () => {
    const missing = `sha256:${'0'.repeat(64)}`;
    await inHome(newHome('m'), async () => {
      await assert.rejects(getArtifact(missing), /artifact sha256:0{64} not found in .*artifacts nor in the store s3:\/\/rankwright\/test-/);
    });
    const ref = `sha256:${createHash('sha256').update('the real content').digest('hex')}`;
    await sharedStore()!.put(artifactKey(ref), Buffer.from('something else'));
    const home = newHome('c');
    await inHome(home, async () => {
      await assert.rejects(getArtifact(ref), /artifact sha256:[0-9a-f]{64} in the store s3:\/\/.* is corrupt \(its 14 bytes hash to sha256:/);
      assert.ok(!fs.existsSync(artifactPath(ref)), 'the corrupt bytes were not cached');
      assert.deepEqual(fs.readdirSync(path.dirname(artifactPath(ref))), [], 'nor left as a temporary file');
    });
  });

  it('a model trained by one process with home A is scored and exported by another with an empty home B', async () => {
    const data = newHome('data');
    const gen = await runCli(['generate', '--scenario', 'wide-tiny', '--rows', '500', '--out', data, '--json']);
    assert.equal(gen.code, 0, gen.stderr);
    const config = path.join(data, 'train.json');
    fs.writeFileSync(
      config,
      JSON.stringify({
        data: { format: 'criteo-tsv', train: path.join(data, 'train.tsv'), test: path.join(data, 'test.tsv') },
        model: { family: 'lr', hashBits: 10, epochs: 1 },
      }),
    );
    const homeA = newHome('train');
    const trained = await runCli(['train', '--config', config, '--json'], { ...vars, RANKWRIGHT_HOME: homeA });
    assert.equal(trained.code, 0, trained.stderr);
    const { artifact } = JSON.parse(trained.stdout) as { artifact: string };
    const homeB = newHome('score');
    const out = path.join(data, 'scores.txt');
    const scored = await runCli(['score', '--model', artifact, '--input', path.join(data, 'test.tsv'), '--out', out], {
      ...vars,
      RANKWRIGHT_HOME: homeB,
    });
    assert.equal(scored.code, 0, scored.stderr);
    const scores = fs.readFileSync(out, 'utf8').trim().split('\n').map(Number);
    assert.equal(scores.length, 1000);
    assert.ok(scores.every((p) => p > 0 && p < 1));
    const exported = await runCli(['export', '--model', artifact, '--out', path.join(data, 'model.onnx')], {
      ...vars,
      RANKWRIGHT_HOME: newHome('export'),
    });
    assert.equal(exported.code, 0, exported.stderr);
    assert.ok(fs.statSync(path.join(data, 'model.onnx')).size > 0);
    // Without the store (an empty RANKWRIGHT_STORE is unset), a third empty home cannot find it: the store carried it.
    const alone = await runCli(['score', '--model', artifact, '--input', path.join(data, 'test.tsv'), '--out', out], {
      RANKWRIGHT_HOME: newHome('alone'),
      RANKWRIGHT_STORE: '',
    });
    assert.equal(alone.code, 2);
    assert.match(alone.stderr, /--model: artifact sha256:[0-9a-f]{64} not found in /);
  });

  it('survives the store being stopped for 20 s: a put and a get in flight wait, then succeed, and the content verifies', async function () {
    this.timeout(300_000);
    const before = randomBytes(3 << 20);
    const written = await inHome(newHome('before'), () => putArtifact(before));
    stopMinio();
    let restarted = false;
    const during = randomBytes(5 << 20);
    // Each call fixes its home's paths before its first await: they run side by side, each in its own empty home.
    const home = process.env.RANKWRIGHT_HOME;
    process.env.RANKWRIGHT_HOME = newHome('outage-a');
    const put = putArtifact(during);
    process.env.RANKWRIGHT_HOME = newHome('outage-b');
    const get = getArtifact(written);
    process.env.RANKWRIGHT_HOME = home;
    const settled = { put: false, get: false };
    void put.finally(() => (settled.put = true)).catch(() => {});
    void get.finally(() => (settled.get = true)).catch(() => {});
    await new Promise((r) => setTimeout(r, 20_000));
    assert.deepEqual(settled, { put: false, get: false }, 'both were still waiting for the store');
    try {
      await startMinioAsync();
      restarted = true;
      const ref = await put;
      assert.deepEqual(await get, before);
      assert.equal(ref, `sha256:${createHash('sha256').update(during).digest('hex')}`);
      // Read back from the store itself, in a third home: the upload made during the outage is whole.
      assert.deepEqual(await inHome(newHome('after'), () => getArtifact(ref)), during);
    } finally {
      if (!restarted) await startMinioAsync();
    }
  });
});
