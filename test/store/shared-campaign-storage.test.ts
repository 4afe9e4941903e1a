import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { formatStatus, statusJson } from '../../client/format';
import { CampaignStatus } from '../../contracts';
import { putArtifact } from '../../store/artifacts';
import { campaignStorage, refsOfStatus } from '../../store/campaign-storage';
import { writeCheckpoint } from '../../store/checkpoints';
import { sharedStore } from '../../store/object-store';
import { writeCampaignReport } from '../../store/report';
import { useMinioStore } from '../support/minio';
import { campaignStatus, experiment } from './fixtures/campaign';

/**
 * A campaign's storage with a shared store (real MinIO): a home that ran nothing of the campaign shows what its
 * artifacts and live checkpoints take in the store beside its own 0, in `rankwright status` (text and JSON) and the
 * report; a store that does not answer leaves the figure out with a note, and nothing fails.
 */

/** Runs `body` with RANKWRIGHT_HOME set to `home`. */
async function inHome<T>(home: string, body: () => Promise<T>): Promise<T> {
  const saved = process.env.RANKWRIGHT_HOME;
  process.env.RANKWRIGHT_HOME = home;
  try {
    return await body();
  } finally {
    if (saved === undefined) delete process.env.RANKWRIGHT_HOME;
    else process.env.RANKWRIGHT_HOME = saved;
  }
}

describe('campaign storage in the shared store (MinIO)', function () {
  this.timeout(120_000);
  const campaignId = `shared-storage-${process.pid}`;
  let restore: () => void;
  let status: CampaignStatus;
  let artifactBytes = 0;
  let checkpointBytes = 0;

  before(async () => {
    ({ restore } = useMinioStore());
    // The machine that ran it: two models (one named twice) and a live checkpoint, each written to its home and the store.
    const worker = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-storage-worker-'));
    await inHome(worker, async () => {
      const models = [randomBytes(30_000), randomBytes(12_345)];
      const refs = [];
      for (const m of models) refs.push(await putArtifact(m));
      artifactBytes = models[0].length + models[1].length;
      status = CampaignStatus.parse({
        ...campaignStatus(),
        campaignId,
        experiments: [
          experiment({ experimentId: 'a', campaignId, artifact: refs[0] }),
          experiment({ experimentId: 'b', campaignId, artifact: refs[1] }),
          experiment({ experimentId: 'c', campaignId, artifact: refs[1] }),
        ],
        probes: [],
        recommendation: null,
      });
      const checkpoint = await writeCheckpoint({ campaignId, experimentId: 'd', attempt: 1 }, [new Uint8Array(2000)]);
      assert.equal(checkpoint.unshared, undefined, 'the checkpoint is in the store');
      checkpointBytes = checkpoint.bytes;
    });
  });

  after(async () => {
    const store = sharedStore()!;
    for await (const o of store.list('')) await store.delete(o.key);
    restore();
  });

  it('a fresh home shows what the store holds of the campaign beside its own nothing: status, JSON and report', async () => {
    const fresh = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-storage-fresh-'));
    await inHome(fresh, async () => {
      const storage = await campaignStorage(campaignId, { refs: refsOfStatus(status) });
      assert.deepEqual([storage.artifacts.count, storage.checkpoints.count, storage.bytes], [0, 0, 0], 'this home holds nothing of it');
      assert.deepEqual(storage.shared, {
        store: sharedStore()!.description,
        artifacts: { count: 2, bytes: artifactBytes },
        checkpoints: { count: 1, bytes: checkpointBytes },
        bytes: artifactBytes + checkpointBytes,
      });
      const line = formatStatus(status, storage)
        .split('\n')
        .find((l) => l.startsWith('storage: '));
      assert.equal(
        line,
        `storage: 0 B: 0 artifacts (0 B), 0 live checkpoints (0 B) in this home; 44.4 kB: 2 artifacts (42.3 kB), 1 live checkpoint (2.03 kB) in the shared store ${sharedStore()!.description}`,
      );
      assert.deepEqual((statusJson(status, storage) as { storage: unknown }).storage, storage);

      // The report measures it itself, from the status it renders.
      const { path: page } = await writeCampaignReport(status, [], { storeArtifact: false });
      const html = fs.readFileSync(page, 'utf8');
      assert.match(
        html,
        /<dd id="storage">0 B: 0 artifacts \(0 B\), 0 live checkpoints \(0 B\) in the home when this report was written; 44\.4 kB: 2 artifacts \(42\.3 kB\), 1 live checkpoint \(2\.03 kB\) in the shared store s3:\/\//,
      );
    });
  });

  it('a store that does not answer leaves its figure out with a note; the home figure and the report stand', async () => {
    const saved = { endpoint: process.env.AWS_ENDPOINT_URL, retry: process.env.RANKWRIGHT_STORE_RETRY_SECONDS };
    process.env.AWS_ENDPOINT_URL = 'http://127.0.0.1:1';
    process.env.RANKWRIGHT_STORE_RETRY_SECONDS = '1';
    try {
      const fresh = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-storage-down-'));
      await inHome(fresh, async () => {
        const storage = await campaignStorage(campaignId, { refs: refsOfStatus(status) });
        assert.equal(storage.bytes, 0);
        assert.ok(storage.shared && 'unavailable' in storage.shared, JSON.stringify(storage.shared));
        assert.match(storage.shared.unavailable, /ECONNREFUSED/);
        const line = formatStatus(status, storage)
          .split('\n')
          .find((l) => l.startsWith('storage: '))!;
        assert.match(
          line,
          /^storage: 0 B: 0 artifacts \(0 B\), 0 live checkpoints \(0 B\) in this home; not measured in the shared store s3:\/\/\S+ at http:\/\/127\.0\.0\.1:1 \(.*ECONNREFUSED.*\)$/,
        );
        const { path: page } = await writeCampaignReport(status, [], { storeArtifact: false });
        assert.match(
          fs.readFileSync(page, 'utf8'),
          /<dd id="storage">0 B: [^<]* in the home when this report was written; not measured in the shared store /,
        );
      });
    } finally {
      process.env.AWS_ENDPOINT_URL = saved.endpoint;
      if (saved.retry === undefined) delete process.env.RANKWRIGHT_STORE_RETRY_SECONDS;
      else process.env.RANKWRIGHT_STORE_RETRY_SECONDS = saved.retry;
    }
  });
});
