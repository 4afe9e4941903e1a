import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { checkKey, checkPrefix, type ObjectStore, type StoredObject } from './object-store';

/**
 * The ObjectStore on a local folder (the home, by default): a key is a relative path under the root. Writes go to a
 * temporary file renamed into place, so a reader sees an object whole or not at all. Links are never followed
 * when listing, as `rankwright gc` never follows them.
 */
export class LocalFolderStore implements ObjectStore {
  readonly description: string;

  constructor(readonly root: string) {
    this.description = path.resolve(root);
  }

  async put(key: string, bytes: Uint8Array): Promise<void> {
    await this.writeAtomically(key, (tmp) => fs.promises.writeFile(tmp, bytes));
  }

  async putFile(key: string, file: string): Promise<void> {
    await this.writeAtomically(key, (tmp) => fs.promises.copyFile(file, tmp));
  }

  async get(key: string): Promise<Buffer | undefined> {
    return fs.promises.readFile(this.file(key)).catch(absentAs(undefined));
  }

  async getToFile(key: string, file: string): Promise<{ bytes: number; sha256: string } | undefined> {
    const source = await fs.promises.open(this.file(key), 'r').catch(absentAs(undefined));
    if (!source) return undefined;
    const tmp = `${file}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
    const digest = createHash('sha256');
    let bytes = 0;
    try {
      await fs.promises.mkdir(path.dirname(file), { recursive: true });
      const count = new Transform({
        transform(chunk: Buffer, _enc, done) {
          digest.update(chunk);
          bytes += chunk.length;
          done(null, chunk);
        },
      });
      await pipeline(source.createReadStream(), count, fs.createWriteStream(tmp));
      await fs.promises.rename(tmp, file);
    } finally {
      await source.close().catch(() => {});
      await fs.promises.rm(tmp, { force: true }).catch(() => {});
    }
    return { bytes, sha256: digest.digest('hex') };
  }

  async head(key: string): Promise<StoredObject | undefined> {
    const st = await fs.promises.lstat(this.file(key)).catch(absentAs(undefined));
    return st?.isFile() ? { key, bytes: st.size } : undefined;
  }

  async *list(prefix: string): AsyncIterable<StoredObject> {
    checkPrefix(prefix);
    // Walks from the deepest folder the prefix names whole, and filters by the rest.
    const base = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
    yield* this.walk(base, prefix);
  }

  async delete(key: string): Promise<void> {
    await fs.promises.rm(this.file(key), { force: true });
  }

  private async *walk(dir: string, prefix: string): AsyncIterable<StoredObject> {
    const entries = await fs.promises.readdir(path.join(this.root, dir), { withFileTypes: true }).catch(() => [] as fs.Dirent[]);
    for (const e of entries) {
      const key = dir ? `${dir}/${e.name}` : e.name;
      if (e.isDirectory()) {
        if (key.startsWith(prefix) || prefix.startsWith(`${key}/`)) yield* this.walk(key, prefix);
      } else if (e.isFile() && key.startsWith(prefix) && !/\.tmp-/.test(e.name)) {
        const st = await fs.promises.lstat(path.join(this.root, key)).catch(() => undefined);
        if (st) yield { key, bytes: st.size };
      }
    }
  }

  private file(key: string): string {
    return path.join(this.root, checkKey(key));
  }

  private async writeAtomically(key: string, write: (tmp: string) => Promise<void>): Promise<void> {
    const file = this.file(key);
    const tmp = `${file}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
    try {
      await fs.promises.mkdir(path.dirname(file), { recursive: true });
      await write(tmp);
      await fs.promises.rename(tmp, file);
    } catch (err) {
      await fs.promises.rm(tmp, { force: true }).catch(() => {});
      throw err;
    }
  }
}

function absentAs<T>(value: T): (err: unknown) => T {
  return (err: unknown) => {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return value;
    throw err;
  };
}
