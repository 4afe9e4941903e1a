import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readStoreCalls } from '../../bench/load/fleet';

describe('bench/load/fleet: the store calls of a fleet run, summed over its workers', () => {
  it('sums calls, seconds, MiB and failures over every file, by key kind and operation; a missing file is none', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-load-fleet-'));
    const a = path.join(dir, 'a.jsonl');
    const b = path.join(dir, 'b.jsonl');
    fs.writeFileSync(
      a,
      [
        { op: 'put', kind: 'checkpoints', bytes: 2 ** 20, ms: 1500, ok: true },
        { op: 'get', kind: 'artifacts', bytes: 2 ** 19, ms: 250, ok: true },
      ]
        .map((l) => JSON.stringify(l))
        .join('\n') + '\n',
    );
    fs.writeFileSync(b, `${JSON.stringify({ op: 'put', kind: 'checkpoints', bytes: 0, ms: 500, ok: false })}\n\n`);
    const calls = readStoreCalls([a, b, path.join(dir, 'absent.jsonl')]);
    assert.deepEqual(calls, {
      calls: 3,
      failed: 1,
      seconds: 2.25,
      mib: 1.5,
      by: { 'checkpoints put': { calls: 2, seconds: 2, mib: 1 }, 'artifacts get': { calls: 1, seconds: 0.25, mib: 0.5 } },
    });
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
