import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DataConfig } from '../../contracts/data';
import type { ModelConfigInput } from '../../contracts/model';
import { designExperiments } from '../../activities/agents';
import { canonicalConfigKey, InsightsStore } from '../../store/insights';
import { experiment, metrics } from '../store/fixtures/campaign';
import { insightsBackends, insightsForActivities } from '../support/insights-backends';
import { designRequest } from './fixtures';

/**
 * The design activity: proposals whose config the insights database already measured on this data are dropped, and
 * each drop is said in llmNotes (whichever designer proposed it). The designer itself skips the same-data configs it is
 * shown, so the known config here sits beyond the 200 most recent insights the activity hands it.
 */
for (const backend of insightsBackends)
  describe(`designExperiments activity (insights on ${backend.name})`, () => {
    const data = DataConfig.parse({ planted: {} });
    const options = { mode: 'heuristic' as const, strategy: 'agent' as const, data };
    const savedHome = process.env.RANKWRIGHT_HOME;
    let home: string;

    let undo: () => void;

    beforeEach(async () => {
      home = fs.mkdtempSync(path.join(os.tmpdir(), 'rw-design-activity-'));
      process.env.RANKWRIGHT_HOME = home;
      undo = await insightsForActivities(backend);
    });
    after(() => backend.cleanup());
    afterEach(() => {
      undo();
      process.env.RANKWRIGHT_HOME = savedHome;
      fs.rmSync(home, { recursive: true, force: true });
    });

    it('drops a proposal the insights database already measured on this data, with a note', async () => {
      const request = designRequest({ count: 4 });
      const first = await designExperiments(request, options);
      assert.equal(first.source, 'heuristic');
      assert.equal(first.proposals.length, 4);
      assert.equal(first.llmNotes, undefined, 'nothing dropped on an empty database');
      const known = first.proposals[0];

      // The proposal's config ran long ago on this data; 200 later experiments push it out of the designer's view.
      const store = await InsightsStore.open();
      try {
        const record = (id: string, config: ModelConfigInput, recordedAt: string) =>
          store.recordExperiment({
            ...experiment({
              experimentId: id,
              campaignId: 'old-campaign',
              config,
              metrics: metrics(0.81),
              relativeNeChange: 0.0125,
              neStdErr: 0.001,
            }),
            dataFingerprint: request.dataFingerprint,
            recordedAt,
          });
        await record('old-0', known.model, '2026-01-01T00:00:00.000Z');
        for (let i = 1; i <= 200; i++)
          await record(`old-${i}`, { family: 'lr', seed: 1000 + i }, `2026-01-02T00:00:00.${String(i).padStart(3, '0')}Z`);
        assert.ok(await store.isKnown(request.dataFingerprint, canonicalConfigKey(known.model)));
      } finally {
        await store.close();
      }

      const second = await designExperiments(request, options);
      assert.ok(
        !second.proposals.some((p) => canonicalConfigKey(p.model) === canonicalConfigKey(known.model)),
        'the known config is not proposed again',
      );
      assert.deepEqual(second.llmNotes, [`dropped '${known.hypothesis.title}': this config already ran on this data (insights database)`]);
      assert.equal(second.proposals.length, 3, 'the other proposals stay');
    });
  });
