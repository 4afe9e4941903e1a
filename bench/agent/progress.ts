/**
 * `--resume`: an agent bench run keeps what it has finished piece by piece — a scenario's agent campaigns (the first
 * campaign, the fresh-rows check and the second campaign, which reads the first one's insights), each random-search
 * seed, each peer, each family default — so that a run stopped after hours (a closed session, a reboot, Ctrl-C)
 * continues where it stopped instead of starting over. A scenario's result is put together from its pieces, so a
 * finished scenario costs nothing to resume.
 *
 * A piece is reused only by a run of the same commit and the same options (each run has its own folder, named by
 * both, and every piece records them too): one report never mixes numbers of two versions of the code. A run without --resume starts over (the folder is emptied first). A failed piece is not kept:
 * resuming runs it again.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** What a piece must match to be reused: the commit that ran it and the run's options (scenarios aside). */
export interface ProgressKey {
  commit: string;
  options: string;
}

interface SavedPiece<T> extends ProgressKey {
  /** When the piece finished. */
  date: string;
  value: T;
}

/** Pieces reused from an earlier process of the same run: how many, and when the earliest of them finished. */
export interface Resumed {
  pieces: number;
  since: string;
}

/**
 * Empties a run's progress folder unless it is resumed (a run of several processes does this once, in the parent).
 * Resuming a run that left nothing says so, naming the runs the root folder does hold (other commits or options).
 */
export function prepareProgress(dir: string, resume: boolean, log: (line: string) => void): void {
  if (!resume && fs.existsSync(dir)) {
    log(`starting over: the progress of an earlier run in ${dir} is removed (--resume continues it instead)`);
    fs.rmSync(dir, { recursive: true, force: true });
  }
  if (resume && !fs.existsSync(dir)) {
    const root = path.dirname(dir);
    const others = fs.existsSync(root) ? fs.readdirSync(root) : [];
    log(
      `--resume: nothing kept for this commit and these options (${dir}); starting from the beginning${others.length ? ` (${root} holds other runs: ${others.join(', ')})` : ''}`,
    );
  }
  fs.mkdirSync(dir, { recursive: true });
}

export class RunProgress {
  private readonly reused: string[] = [];

  constructor(
    readonly dir: string,
    private readonly key: ProgressKey,
    private readonly resume: boolean,
    private readonly log: (line: string) => void,
  ) {}

  /**
   * The piece `name` of `scenario`: its saved value when resuming and one was saved, else `run()`'s, saved when
   * `keep` accepts it (a failure is run again next time).
   */
  async piece<T>(scenario: string, name: string, run: () => Promise<T>, keep: (value: T) => boolean): Promise<T> {
    const file = path.join(this.dir, scenario.replace(/[^A-Za-z0-9_-]/g, '-'), `${name}.json`);
    if (this.resume && fs.existsSync(file)) {
      const saved = JSON.parse(fs.readFileSync(file, 'utf8')) as SavedPiece<T>;
      if (saved.commit !== this.key.commit || saved.options !== this.key.options)
        throw new Error(
          `${file} was written by a run at commit ${saved.commit} with options ${saved.options}; this run is at ${this.key.commit} with ${this.key.options}. --resume continues only the same run: run it from a checkout of ${saved.commit} with the same options (git worktree add DIR ${saved.commit}), or leave out --resume to start over`,
        );
      this.reused.push(saved.date);
      this.log(`${scenario}: ${name} kept from the run's earlier process (finished ${saved.date})`);
      return saved.value;
    }
    const value = await run();
    if (keep(value)) {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      const saved: SavedPiece<T> = { ...this.key, date: new Date().toISOString(), value };
      // Written whole then renamed: a process stopped mid-write leaves no half piece to resume from.
      fs.writeFileSync(`${file}.tmp`, JSON.stringify(saved));
      fs.renameSync(`${file}.tmp`, file);
    }
    return value;
  }

  /** The pieces this process reused, undefined when it ran everything itself. */
  resumed(): Resumed | undefined {
    if (!this.reused.length) return undefined;
    return { pieces: this.reused.length, since: [...this.reused].sort()[0] };
  }
}
