import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CampaignInput } from '../../contracts';
import { REPO_ROOT } from '../support/temporal';

/** The example campaign configs the README tells a new user to start are valid configs. */
describe('examples: campaign configs', () => {
  const dir = path.join(REPO_ROOT, 'examples');
  const files = fs.readdirSync(dir).filter((f) => /^campaign\..*\.json$/.test(f));

  it('there are examples, and every one parses as a campaign config', () => {
    assert.ok(files.includes('campaign.planted.json') && files.includes('campaign.lightgbm.json'), files.join(', '));
    for (const file of files) {
      const parsed = CampaignInput.safeParse(JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')));
      assert.ok(parsed.success, `${file}: ${parsed.error?.message}`);
    }
  });
});
