import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import {
  AbortRequest,
  ApproveRequest,
  CampaignEvent,
  CampaignInput,
  CampaignStatus,
  ExperimentInput,
  OverrideRequest,
  RejectRequest,
  SIGNALS,
  UPDATES,
  WORKFLOW_TYPES,
} from '../contracts';

/**
 * JSON Schema files of Rankwright's public payloads, generated from the zod schemas in contracts/ (the single source
 * of truth) so services in other languages can validate what they send before they send it. Inputs are described as
 * a caller writes them (io: 'input': fields with defaults are optional); status and events as Rankwright emits them.
 * Draft-07, the draft every common validator (ajv's default, fastify, Python jsonschema, Go) reads without options.
 *
 *   npm run schema                              writes schemas/*.json
 *   npx tsx client/write-schemas.ts --check     exits 1 when a committed file is stale
 */
interface SchemaSpec {
  file: string;
  title: string;
  description: string;
  schema: z.ZodType;
  io: 'input' | 'output';
}

const SPECS: SchemaSpec[] = [
  {
    file: `${WORKFLOW_TYPES.campaign}.input.json`,
    title: `${WORKFLOW_TYPES.campaign} input`,
    description: `The one JSON argument of the ${WORKFLOW_TYPES.campaign} workflow (Web UI "Start Workflow" input, POST /campaigns body).`,
    // The public input is the whole input: the campaign's carried-over state is not part of it (see campaign-start.ts).
    schema: CampaignInput,
    io: 'input',
  },
  {
    file: `${WORKFLOW_TYPES.experiment}.input.json`,
    title: `${WORKFLOW_TYPES.experiment} input`,
    description: `The one JSON argument of the ${WORKFLOW_TYPES.experiment} workflow.`,
    schema: ExperimentInput,
    io: 'input',
  },
  ...(
    [
      [UPDATES.approve, SIGNALS.approve, ApproveRequest],
      [UPDATES.reject, SIGNALS.reject, RejectRequest],
      [UPDATES.override, SIGNALS.override, OverrideRequest],
      [UPDATES.abort, SIGNALS.abort, AbortRequest],
    ] as const
  ).map(([update, signal, schema]) => ({
    file: `${update}.payload.json`,
    title: `${update} payload`,
    description: `Payload of the "${update}" update and the "${signal}" signal of ${WORKFLOW_TYPES.campaign} (POST /campaigns/:id/${update} body).`,
    schema,
    io: 'input' as const,
  })),
  {
    file: 'campaign-status.json',
    title: 'campaign status',
    description: `What the "status" query of ${WORKFLOW_TYPES.campaign} returns (also its result, and GET /campaigns/:id).`,
    schema: CampaignStatus,
    io: 'output',
  },
  {
    file: 'campaign-event.json',
    title: 'campaign event',
    description: 'One line of the campaign event log (RANKWRIGHT_HOME/events/<campaignId>.jsonl).',
    schema: CampaignEvent,
    io: 'output',
  },
];

/** File name → file text (pretty JSON, trailing newline) for every schema; deterministic. */
export function generateSchemas(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const spec of SPECS) {
    const { $schema, ...body } = z.toJSONSchema(spec.schema, { io: spec.io, target: 'draft-7' }) as Record<string, unknown>;
    const document = { $schema, title: spec.title, description: spec.description, ...body };
    out[spec.file] = JSON.stringify(document, null, 2) + '\n';
  }
  return out;
}

/** The repository's schemas/ folder, found from this file whether it runs from client/ or dist/client/. */
export function defaultSchemasDir(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return path.join(dir, 'schemas');
}

/** Writes every schema into `dir` (default: schemas/) and returns the paths written. */
export function writeSchemas(dir: string = defaultSchemasDir()): string[] {
  fs.mkdirSync(dir, { recursive: true });
  return Object.entries(generateSchemas()).map(([file, text]) => {
    const target = path.join(dir, file);
    // Write then rename, so a reader never sees half a file.
    fs.writeFileSync(`${target}.tmp`, text);
    fs.renameSync(`${target}.tmp`, target);
    return target;
  });
}

/** Names of files in `dir` that differ from (or are missing compared with) what the generator produces now. */
export function staleSchemas(dir: string = defaultSchemasDir()): string[] {
  return Object.entries(generateSchemas())
    .filter(([file, text]) => {
      const target = path.join(dir, file);
      return !fs.existsSync(target) || fs.readFileSync(target, 'utf8') !== text;
    })
    .map(([file]) => file);
}

if (require.main === module) {
  if (process.argv.includes('--check')) {
    const stale = staleSchemas();
    if (stale.length) {
      console.error(`stale JSON Schemas (run npm run schema): ${stale.join(', ')}`);
      process.exit(1);
    }
    console.log('JSON Schemas are current');
  } else {
    for (const file of writeSchemas()) console.log(`wrote ${path.relative(process.cwd(), file)}`);
  }
}
