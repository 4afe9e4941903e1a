import { CampaignStatus, describeIssues, type CampaignEvent } from '../../contracts';
import { writeCampaignReport, type CampaignReportOptions } from '../../store/report';
import type { CommandOutput } from './insights';

const console_: CommandOutput = { out: (l) => process.stdout.write(l + '\n'), err: (l) => process.stderr.write(l + '\n') };

export interface RenderReportOptions extends CampaignReportOptions {
  /** Print `{"path","artifact"}` instead of the path. */
  json?: boolean;
}

/**
 * `rankwright report <campaignId>`: the CLI queries the campaign's status from Temporal and reads its event log,
 * then calls this to write the HTML report; prints the path (and the artifact ref). Returns the exit code.
 */
export async function renderReport(
  status: unknown,
  events: CampaignEvent[],
  opts: RenderReportOptions = {},
  io: CommandOutput = console_,
): Promise<number> {
  const parsed = CampaignStatus.safeParse(status);
  if (!parsed.success) {
    io.err(`the campaign status is not one this version understands: ${describeIssues(parsed.error).join('; ')}`);
    return 1;
  }
  try {
    const { path, artifact } = await writeCampaignReport(parsed.data, events, opts);
    if (opts.json) io.out(JSON.stringify({ path, artifact }));
    else {
      io.out(path);
      if (artifact) io.err(`stored as artifact ${artifact}`);
    }
    return 0;
  } catch (err) {
    io.err(`cannot write the report: ${(err as Error).message.replace(/\s*\n\s*/g, '; ')}`);
    return 1;
  }
}
