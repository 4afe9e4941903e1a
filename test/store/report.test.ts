import { launchChromium } from '../support/browser';
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CampaignStatus } from '../../contracts';
import { getArtifact } from '../../store/artifacts';
import { rankwrightHome } from '../../store/home';
import { buildReportData, writeCampaignReport, type CampaignReportData } from '../../store/report';
import { escapeHtml, renderReportHtml } from '../../store/report-template';
import { HOSTILE_TITLE, campaignEvents, campaignStatus } from './fixtures/campaign';

/** The JSON the page's charts are drawn from. */
function embeddedData(html: string): CampaignReportData {
  const m = /<script type="application\/json" id="report-data">([\s\S]*?)<\/script>/.exec(html);
  assert.ok(m, 'report embeds its chart data');
  return JSON.parse(m[1]) as CampaignReportData;
}

describe('store/report', () => {
  let html: string;
  let written: { path: string; artifact?: string };
  before(async () => {
    written = await writeCampaignReport(campaignStatus(), campaignEvents(), { generatedAt: '2026-03-02T11:00:00.000Z' });
    html = fs.readFileSync(written.path, 'utf8');
  });

  it('writes ${RANKWRIGHT_HOME}/reports/<campaignId>.html and the same page as a content-addressed artifact', async () => {
    assert.equal(written.path, path.join(rankwrightHome(), 'reports', 'ctr-lift-1.html'));
    assert.match(written.artifact ?? '', /^sha256:[0-9a-f]{64}$/);
    assert.equal((await getArtifact(written.artifact!)).toString('utf8'), html);
  });

  it('is self-contained: chart.js inline, no external script, stylesheet or fetch', () => {
    assert.ok(html.length > 150_000, 'chart.js is inlined');
    assert.doesNotMatch(html, /<script[^>]+src=/);
    assert.doesNotMatch(html, /<link[^>]+stylesheet/);
    assert.match(html, /Content-Security-Policy" content="default-src &#39;none&#39;; script-src &#39;sha256-/);
  });

  it("embeds the plots' data: NE per experiment in run order, baseline and oracle NE, the recommended one", () => {
    const data = embeddedData(html);
    assert.deepEqual(
      data.experiments.map((e) => e.experimentId),
      ['ctr-lift-1-base', 'ctr-lift-1-v1', 'ctr-lift-1-v2', 'ctr-lift-1-v3', 'ctr-lift-1-c1'],
    );
    assert.deepEqual(
      data.experiments.map((e) => e.ne ?? null),
      [0.9, 0.87, 0.89, null, 0.85],
    );
    assert.equal(data.baselineNe, 0.9);
    assert.equal(data.oracleNe, 0.78);
    assert.equal(data.recommendation?.experimentId, 'ctr-lift-1-c1');
    assert.ok(Math.abs((data.recommendation?.capturedGainShare ?? 0) - 0.05 / 0.12) < 1e-9, 'share of achievable gain');
    assert.deepEqual(
      data.experiments.map((e) => e.calibration ?? null),
      [1, 1.02, 1.12, null, 0.99],
    );
    assert.deepEqual(
      data.segments.map((s) => [s.segment, s.ne, s.baselineNe]),
      [
        ['C1=a1', 0.85, 0.9],
        ['C1=b2', 0.86, 0.91],
        ['C1=c3', 0.87, 0.92],
      ],
    );
    for (const id of ['ne-chart', 'calibration-chart', 'segment-chart']) assert.match(html, new RegExp(`<canvas id="${id}"`));
  });

  it('shows the leaderboard best NE first with failures last, breaches, decisions and the rationale', () => {
    const rows = [...html.matchAll(/<tr class="[^"]*" data-experiment="([^"]+)"/g)].map((m) => m[1]);
    assert.deepEqual(rows, ['ctr-lift-1-c1', 'ctr-lift-1-v1', 'ctr-lift-1-v2', 'ctr-lift-1-base', 'ctr-lift-1-v3']);
    assert.match(html, /<tr class="recommended" data-experiment="ctr-lift-1-c1"/);
    assert.match(html, /-5\.56%/);
    assert.match(html, /failed: diverged/);
    assert.match(html, /calibrationBand: calibration 1\.12 outside \[0\.9, 1\.1\]/);
    assert.match(html, /<td>reminder<\/td><td>rankwright<\/td><td>2026-03-02T10:00:00.000Z<\/td><td>timer<\/td><td>review pending for 1h<\/td>/);
    assert.match(html, /mallory is not an approver/);
    assert.match(html, /id="review-state">awaiting-review</);
    assert.match(html, /plan-complete/);
    assert.match(html, /Lower NE on the test set &lt;i&gt;fast&lt;\/i&gt;/, 'objective comes from the campaign.started event, escaped');
  });

  it("shows the research step: the baseline's fit, important fields, and each hypothesis's expected gain beside its measured run", () => {
    const section = /<div id="research">([\s\S]*?)<\/div>/.exec(html)?.[1] ?? '';
    assert.match(section, /Baseline fit: balanced: validation NE is 1\.00% above train NE/);
    assert.match(section, /C1 0\.0310 ± 0\.0020/);
    const rows = section.split('<tr>').slice(2);
    assert.equal(rows.length, 2);
    // The cross's config is what ctr-lift-1-v2 ran: its measured change is shown; the buckets never ran.
    assert.match(rows[0], /Cross C1×C2 on lr[\s\S]*−1\.20%[\s\S]*ctr-lift-1-v2: -1\.11%/);
    assert.match(rows[1], /Quantile buckets for I2[\s\S]*not run/);
    assert.ok(!section.includes('<script>') && section.includes('&lt;script&gt;'), 'evidence is escaped');
  });

  it('shows the probes: each idea screened on the row sample, the reference, and the full run a winner earned', () => {
    const section = /<div id="probes">([\s\S]*?)<\/div>/.exec(html)?.[1] ?? '';
    const rows = section.split('<tr').slice(2);
    assert.equal(rows.length, 3);
    assert.match(rows[0], /ctr-lift-1-p1[\s\S]*reference[\s\S]*40000[\s\S]*0\.9300/);
    assert.match(rows[1], /ctr-lift-1-p2[\s\S]*0\.9000[\s\S]*promoted → ctr-lift-1-v1: -3\.33%/);
    assert.match(rows[2], /ctr-lift-1-p3[\s\S]*0\.9500[\s\S]*not promoted/);
    assert.ok(!section.includes('<script>'), 'titles are escaped');
    assert.match(html, /5 experiments \+ 3 probes = 5\.6 full-run equivalents of compute \(retries included\), 62\.5 s training/);
  });

  it('escapes every hostile string (LLM-written hypotheses, rationales)', () => {
    assert.ok(!html.includes(HOSTILE_TITLE), 'raw <script> from a hypothesis title must not appear');
    assert.ok(html.includes(escapeHtml(HOSTILE_TITLE)));
    assert.ok(!html.includes('"><img src=x'), 'attribute break-out is escaped');
    assert.ok(!html.includes('<b>not bold</b>'));
    const data = embeddedData(html);
    assert.equal(data.experiments[2].title, HOSTILE_TITLE, 'the JSON island round-trips the text without letting it end the script');
    const chartJs = fs.readFileSync(path.join(path.dirname(require.resolve('chart.js')), 'chart.umd.js'), 'utf8');
    const scripts = html.replace(chartJs, '').match(/<script\b/gi) ?? [];
    assert.equal(scripts.length, 3, 'only the data island, chart.js and the chart script');
  });

  it('renders a campaign that has only just started (no experiments, no recommendation)', async () => {
    const fresh = CampaignStatus.parse({
      ...campaignStatus(),
      campaignId: 'fresh-1',
      phase: 'baseline',
      reviewState: 'running',
      experiments: [],
      running: ['fresh-1-base'],
      baselineId: undefined,
      best: null,
      recommendation: null,
      guardrailBreaches: [],
      decisions: [],
      stopReason: undefined,
      oracleNe: undefined,
    });
    const { path: file } = await writeCampaignReport(fresh, [], { storeArtifact: false });
    const page = fs.readFileSync(file, 'utf8');
    assert.match(page, /No experiments yet/);
    assert.match(page, /No recommendation/);
    assert.doesNotMatch(page, /<canvas/);
    assert.deepEqual(buildReportData(fresh, []).leaderboard, []);
  });

  it('refuses a campaign id that would write outside the reports folder', async () => {
    await assert.rejects(writeCampaignReport({ ...campaignStatus(), campaignId: '../../evil' }, []), /letters, digits/);
  });

  it('draws its charts in headless Chromium without console errors or script injection', async function () {
    // No skipping: Chromium comes from npm (@sparticuz/chromium) or RANKWRIGHT_CHROMIUM; a failed launch says what was tried.
    this.timeout(60_000);
    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
      const errors: string[] = [];
      const dialogs: string[] = [];
      const requests: string[] = [];
      page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
      page.on('pageerror', (e) => errors.push(e.message));
      page.on('dialog', (d) => (dialogs.push(d.message()), void d.dismiss()));
      page.on('request', (r) => !r.url().startsWith('file:') && requests.push(r.url()));
      await page.goto(`file://${written.path}`);
      await page.waitForSelector('body[data-charts="drawn"]', { timeout: 10_000 });
      // Count painted pixels: a canvas chart.js never drew is fully transparent.
      const painted = (await page.evaluate(`(() => {
        const canvas = document.getElementById('ne-chart');
        const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
        let n = 0; for (let i = 3; i < data.length; i += 4) if (data[i] > 0) n++;
        return n;
      })()`)) as number;
      assert.ok(painted > 1000, `NE chart canvas is drawn (${painted} painted pixels)`);
      assert.deepEqual(errors, []);
      assert.deepEqual(dialogs, [], 'no injected script ran');
      assert.deepEqual(requests, [], 'no network at view time');
      assert.equal(await page.locator('#leaderboard tbody tr').count(), 5);
    } finally {
      await browser.close();
    }
  });

  it('a campaign that decided on validation: ranked by validation NE, data checks first, the test confirmation beside the pick', () => {
    const status = campaignStatus();
    // Validation disagrees with test on purpose: v1 is best on validation, c1 on test.
    const validationNe: Record<string, number> = { 'ctr-lift-1-base': 0.91, 'ctr-lift-1-v1': 0.86, 'ctr-lift-1-v2': 0.9, 'ctr-lift-1-c1': 0.88 };
    const experiments = status.experiments.map((e) =>
      validationNe[e.experimentId] === undefined
        ? e
        : {
            ...e,
            validationMetrics: {
              ne: validationNe[e.experimentId],
              auc: 0.7,
              logloss: 0.3,
              calibration: 1,
              ctr: 0.1,
              examples: 5000,
              clicks: 500,
              neStdErr: 0.004,
            },
          },
    );
    const v1 = experiments.find((e) => e.experimentId === 'ctr-lift-1-v1')!;
    const decided = CampaignStatus.parse({
      ...status,
      experiments,
      decidedOn: 'validation',
      dataChecks: {
        trainCtr: 0.0095,
        detectable: [{ split: 'validation', rows: 5000, clicks: 48, relativeNeChange: 0.06 }],
        findings: [{ kind: 'test-base-rate', severity: 'critical', message: 'test CTR is 4x below training: judge ranking by AUC' }],
      },
      recommendation: {
        ...status.recommendation!,
        experimentId: v1.experimentId,
        metrics: v1.metrics,
        validationMetrics: v1.validationMetrics,
        confirmation: {
          selectedOn: 'validation',
          ne: 0.87,
          baselineNe: 0.9,
          relativeNeChange: -0.0333,
          deltaStdErr: 0.004,
          significant: true,
          constantNe: 1.2,
          auc: 0.7,
          calibration: 1.02,
          confirmed: true,
          note: 'Selected on validation (NE 0.8600 ± 0.0040 vs baseline 0.9100), confirmed on test: test NE 0.8700 vs baseline 0.9000',
        },
      },
    });
    const data = buildReportData(decided, campaignEvents());
    assert.equal(data.decidedOn, 'validation');
    assert.deepEqual(data.leaderboard.map((e) => e.experimentId).slice(0, 4), ['ctr-lift-1-v1', 'ctr-lift-1-c1', 'ctr-lift-1-v2', 'ctr-lift-1-base']);
    assert.equal(data.recommendation?.validationNe, 0.86);
    assert.equal(data.recommendation?.confirmation?.confirmed, true);
    const page = renderReportHtml(data, '');
    assert.match(page, /<h2>Data checks<\/h2>/);
    assert.match(page, /validation: 6\.00% \(5000 rows, 48 clicks\)/);
    assert.match(page, /\[critical\] test CTR is 4x below training/);
    assert.match(page, /<dt>confirmed on test<\/dt><dd id="confirmation">Selected on validation/);
    assert.match(page, /Ranked by validation NE, what the campaign decided on/);
  });
});
