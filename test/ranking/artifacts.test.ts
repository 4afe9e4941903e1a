import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { artifactPath, getArtifact, getArtifactJson, putArtifact } from '../../store/artifacts';

describe('artifact store', () => {
  it('round-trips bytes and JSON under content-addressed refs, idempotently', async () => {
    const bytes = new Uint8Array([1, 2, 3, 250]);
    const ref = await putArtifact(bytes);
    assert.match(ref, /^sha256:[0-9a-f]{64}$/);
    assert.equal(await putArtifact(bytes), ref, 'same content → same ref');
    assert.deepEqual([...(await getArtifact(ref))], [1, 2, 3, 250]);
    const jsonRef = await putArtifact({ family: 'lr', ne: 0.8 });
    assert.deepEqual(await getArtifactJson(jsonRef), { family: 'lr', ne: 0.8 });
    assert.ok(artifactPath(ref).startsWith(process.env.RANKWRIGHT_HOME!), 'stored under RANKWRIGHT_HOME');
    assert.deepEqual(
      fs.readdirSync(require('node:path').dirname(artifactPath(ref))).filter((f: string) => f.includes('.tmp-')),
      [],
      'no temp files left behind',
    );
  });

  it('refuses refs that are not sha256:<64 hex> (no path traversal)', async () => {
    for (const bad of ['sha256:../../etc/passwd', '../x', 'sha256:ABC', `sha256:${'g'.repeat(64)}`, `md5:${'a'.repeat(64)}`, '']) {
      await assert.rejects(getArtifact(bad), /invalid artifact ref/);
    }
  });

  it('reports a missing artifact and detects corruption', async () => {
    await assert.rejects(getArtifact(`sha256:${'0'.repeat(64)}`), /not found/);
    const ref = await putArtifact('to be corrupted');
    fs.writeFileSync(artifactPath(ref), 'something else');
    await assert.rejects(getArtifact(ref), /corrupt/);
  });
});
