import { strict as assert } from 'node:assert';
import { trainExperiment } from '../../ranking';

describe('scoring after training says it is alive (activity heartbeats)', () => {
  it('calls onAlive after every 4,096-row slice of the validation and test scoring', async function () {
    this.timeout(120_000);
    let alive = 0;
    const out = await trainExperiment({
      data: { planted: { seed: 3, trainRows: 5_000, validationRows: 10_000, testRows: 20_000 } },
      model: { family: 'lr', epochs: 1 },
      onAlive: () => alive++,
    });
    // ceil(10,000 / 4,096) + ceil(20,000 / 4,096) = 3 + 5: a long DCN pass heartbeats as often.
    assert.equal(alive, 8);
    assert.equal(out.metrics.examples, 20_000);
  });
});
