import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Browser, BrowserContext, LaunchOptions, Locator, Page } from 'playwright-core';
import { SYSTEM_TMPDIR } from './dev-services';

/**
 * Flags for a quiet, reproducible headless Chromium in CI: no sandbox (containers run as root), no GPU, no QUIC,
 * and none of the background traffic (updates, sync, component downloads) a machine without internet would stall on.
 * Headless mode itself is Playwright's `headless: true`.
 */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** How the browser tests launch Chromium: which binary, where it came from, with which flags and environment. */
export interface ChromiumLaunch {
  executablePath: string;
  /** Where the binary came from, for messages: `RANKWRIGHT_CHROMIUM=…` or `@sparticuz/chromium x.y.z`. */
  source: string;
  args: string[];
  env?: Record<string, string>;
}

let resolved: Promise<ChromiumLaunch> | undefined;

/**
 * The Chromium the browser tests use. With RANKWRIGHT_CHROMIUM set, that binary (a system Chromium); otherwise the
 * one the npm package @sparticuz/chromium ships (brotli-compressed inside node_modules), unpacked once per version
 * into the temp folder. Never any other binary: there is no silent fallback to /usr/bin/chromium or a Playwright
 * download. Fails (never skips) with what was tried: a browser test that silently skips would let the Web UI path rot
 * unnoticed.
 */
export function requireChromium(): Promise<ChromiumLaunch> {
  resolved ??= resolveChromium();
  return resolved;
}

async function resolveChromium(): Promise<ChromiumLaunch> {
  const configured = process.env.RANKWRIGHT_CHROMIUM?.trim();
  if (configured) {
    try {
      fs.accessSync(configured, fs.constants.X_OK);
    } catch (err) {
      throw new Error(
        `RANKWRIGHT_CHROMIUM=${configured} is not an executable file (${(err as Error).message}); the browser tests need Chromium. ` +
          `Point RANKWRIGHT_CHROMIUM at a Chromium binary, or unset it to use the one from the npm package @sparticuz/chromium (npm ci installs it).`,
        { cause: err },
      );
    }
    return { executablePath: configured, source: `RANKWRIGHT_CHROMIUM=${configured}`, args: CHROMIUM_ARGS };
  }
  try {
    return await unpackSparticuzChromium();
  } catch (err) {
    throw new Error(
      `could not unpack the Chromium of the npm package @sparticuz/chromium (RANKWRIGHT_CHROMIUM is not set): ${(err as Error).message}. ` +
        `Run npm ci (it is a devDependency), or set RANKWRIGHT_CHROMIUM to a Chromium binary.`,
      { cause: err },
    );
  }
}

/**
 * Unpacks @sparticuz/chromium's binary (with its fonts and SwiftShader libraries) into
 * `<tmp>/rankwright-chromium-<version>`. The package's `executablePath()` inflates into `os.tmpdir()`, and would hand a
 * half-written /tmp/chromium to a second test process started meanwhile; so it inflates into a private staging folder
 * that is then renamed into place in one step (a folder that exists is complete; a concurrent run that loses the
 * rename race uses the winner's copy).
 */
async function unpackSparticuzChromium(): Promise<ChromiumLaunch> {
  const entry = require.resolve('@sparticuz/chromium'); // …/@sparticuz/chromium/build/index.js
  const packageDir = path.dirname(path.dirname(entry));
  const { version } = JSON.parse(fs.readFileSync(path.join(packageDir, 'package.json'), 'utf8')) as { version: string };
  const mod = (await import('@sparticuz/chromium')) as unknown as { default: SparticuzChromium & { default?: SparticuzChromium } };
  const Chromium: SparticuzChromium = mod.default.default ?? mod.default;
  Chromium.setGraphicsMode = false; // no WebGL (nothing here uses it): --disable-webgl instead of SwiftShader GL flags

  // In the system's temporary folder, not the test run's own: unpacked once, reused by later runs.
  const dir = path.join(SYSTEM_TMPDIR, `rankwright-chromium-${version}`);
  const executablePath = path.join(dir, 'chromium');
  if (!fs.existsSync(executablePath)) {
    const staging = fs.mkdtempSync(`${dir}.staging-`);
    try {
      const previous = process.env.TMPDIR;
      let inflating: Promise<string>;
      process.env.TMPDIR = staging; // read synchronously by executablePath() when it starts each inflation
      try {
        inflating = Chromium.executablePath(path.join(packageDir, 'bin'));
      } finally {
        if (previous === undefined) delete process.env.TMPDIR;
        else process.env.TMPDIR = previous;
      }
      const inflated = await inflating;
      if (inflated !== path.join(staging, 'chromium')) throw new Error(`it unpacked to ${inflated}, not into ${staging}`);
      // Its fonts, plus the system's fonts where there are any (the fontconfig file it ships names /tmp/fonts).
      fs.writeFileSync(
        path.join(staging, 'fonts.conf'),
        `<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n<fontconfig>\n` +
          `  <include ignore_missing="yes">/etc/fonts/fonts.conf</include>\n` +
          `  <dir>${path.join(dir, 'fonts')}</dir>\n  <cachedir>${path.join(dir, 'fonts-cache')}</cachedir>\n</fontconfig>\n`,
      );
      try {
        fs.renameSync(staging, dir);
      } catch (err) {
        if (!fs.existsSync(executablePath)) throw err; // not a lost race: a real failure
      }
    } finally {
      fs.rmSync(staging, { recursive: true, force: true });
    }
  }
  const recommended = Chromium.args.filter((arg) => !DROPPED_SPARTICUZ_ARGS.some((dropped) => arg.startsWith(dropped)));
  return {
    executablePath,
    source: `@sparticuz/chromium ${version} (unpacked in ${dir})`,
    args: [...new Set([...recommended, ...CHROMIUM_ARGS])],
    env: { FONTCONFIG_FILE: path.join(dir, 'fonts.conf') },
  };
}

/**
 * @sparticuz/chromium's recommended flags we leave out: `--headless='shell'` (Playwright passes its own --headless);
 * `--disable-features`/`--enable-features` (a second occurrence would replace the feature lists Playwright passes);
 * `--disable-web-security`/`--allow-running-insecure-content` (the tests check pages under the browser's real
 * security model).
 */
const DROPPED_SPARTICUZ_ARGS = [
  '--headless',
  '--disable-features=',
  '--enable-features=',
  '--disable-web-security',
  '--allow-running-insecure-content',
];

/** The part of @sparticuz/chromium's default export used here. */
interface SparticuzChromium {
  readonly args: string[];
  setGraphicsMode: boolean;
  executablePath(input?: string): Promise<string>;
}

/** Playwright's launch options for `launch`: the binary, flags and environment; the caller adds its own. */
function launchOptions(launch: ChromiumLaunch): LaunchOptions {
  return {
    executablePath: launch.executablePath,
    headless: true,
    args: launch.args,
    env: launch.env ? { ...process.env, ...launch.env } : undefined,
  };
}

/** Runs `start`; a failure says which Chromium was tried, from where, with which flags. */
async function launching<T>(launch: ChromiumLaunch, start: () => Promise<T>): Promise<T> {
  try {
    return await start();
  } catch (err) {
    throw new Error(
      `Chromium did not launch: tried ${launch.executablePath} (${launch.source}) with ${launch.args.join(' ')}: ${(err as Error).message}`,
      { cause: err },
    );
  }
}

/** A headless Chromium (`browser.newPage()` gives a fresh context); the caller closes it. */
export async function launchChromium(): Promise<Browser> {
  const launch = await requireChromium();
  const { chromium } = await import('playwright-core');
  return launching(launch, () => chromium.launch(launchOptions(launch)));
}

export interface HeadlessBrowser {
  context: BrowserContext;
  page: Page;
  /** Saves a full-page screenshot (for a failing test's diagnosis) and returns its path; never throws. */
  screenshot(name: string): Promise<string | undefined>;
  close(): Promise<void>;
}

/** Headless Chromium with a fresh profile (deleted on close), so no cookie or local setting leaks between runs. */
export async function launchBrowser(options: { viewport?: { width: number; height: number } } = {}): Promise<HeadlessBrowser> {
  const launch = await requireChromium();
  const { chromium } = await import('playwright-core');
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rankwright-chromium-profile-'));
  let context: BrowserContext;
  try {
    context = await launching(launch, () =>
      chromium.launchPersistentContext(userDataDir, { ...launchOptions(launch), viewport: options.viewport ?? { width: 1400, height: 1000 } }),
    );
  } catch (err) {
    fs.rmSync(userDataDir, { recursive: true, force: true });
    throw err;
  }
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    context,
    page,
    async screenshot(name) {
      const file = path.join(os.tmpdir(), `rankwright-${name}-${Date.now()}.png`);
      try {
        await page.screenshot({ path: file, fullPage: true, timeout: 5_000 });
        return file;
      } catch {
        return undefined;
      }
    },
    async close() {
      await context.close().catch(() => undefined);
      fs.rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Replaces the text of a CodeMirror 6 editor (the Temporal UI's JSON input fields). `fill` on its contenteditable
 * sets the whole document in one input event, so CodeMirror's bracket auto-closing never doubles a brace.
 */
export async function fillCodeEditor(editor: Locator, text: string): Promise<void> {
  const content = editor.locator('.cm-content').first();
  await content.click();
  await content.fill(text);
}
