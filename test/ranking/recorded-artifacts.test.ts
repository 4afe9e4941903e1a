import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { scoreFile } from '../../ranking';
import { putArtifact } from '../../store/artifacts';

const RECORDED = path.resolve(__dirname, '..', 'fixtures', 'recorded');

/**
 * Models trained and saved by the engine before rows had widths of their own (commit 97a52b5: Criteo's fixed 13 + 26
 * slots), with the scores that engine wrote for the same rows: today's engine loads them and scores every row to the
 * same printed probability. LR covers quantile and log transforms, a pair and a three-field cross with a dense field;
 * FM an embedded pair cross.
 */
describe('models recorded before fields had widths', function () {
  this.timeout(120_000);
  let dir: string;
  before(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-recorded-'))));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  for (const family of ['lr', 'fm']) {
    it(`${family}: scores the recorded rows exactly as when it was saved`, async () => {
      const ref = await putArtifact(fs.readFileSync(path.join(RECORDED, `criteo-${family}.model`)));
      const out = path.join(dir, `${family}.scores`);
      await scoreFile(ref, path.join(RECORDED, 'criteo-rows.tsv'), out);
      const now = fs.readFileSync(out, 'utf8').trim().split('\n');
      const then = fs
        .readFileSync(path.join(RECORDED, `criteo-${family}.scores`), 'utf8')
        .trim()
        .split('\n');
      assert.equal(now.length, 400);
      assert.deepEqual(now, then);
    });
  }
});
