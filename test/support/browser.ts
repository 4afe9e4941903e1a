import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { BrowserContext, Locator, Page } from 'playwright-core';

/** Debian's Chromium (`apt-get install -y chromium`); RANKWRIGHT_CHROMIUM points elsewhere. */
export const CHROMIUM_PATH = process.env.RANKWRIGHT_CHROMIUM ?? '/usr/bin/chromium';

/**
 * Flags for a quiet, reproducible headless Chromium in CI: no sandbox (containers run as root), no GPU, no QUIC,
 * and none of the background traffic (updates, sync, component downloads) a machine without internet would stall on.
 */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Fails (never skips) with the command that fixes it: a browser test that silently skips would let the Web UI path
 * rot unnoticed. .ci/run installs the package.
 */
export function requireChromium(): string {
  if (!fs.existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `Chromium is not installed at ${CHROMIUM_PATH}; the browser tests need it. ` +
        `Install it with: sudo apt-get install -y chromium (Debian/Ubuntu), or set RANKWRIGHT_CHROMIUM to a Chromium binary.`,
    );
  }
  return CHROMIUM_PATH;
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
  const executablePath = requireChromium();
  const { chromium } = await import('playwright-core');
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rankwright-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: options.viewport ?? { width: 1400, height: 1000 },
  });
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
