// Chromium (Debian's, driven by playwright-core) for end-to-end tests: one browser per test
// file, one isolated context per simulated user, with every page error and CSP violation
// recorded so a test can assert the page ran cleanly.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
export const SHOTS_DIR = '/tmp/peerdial-shots';

export interface BrowserOptions {
  /** The browser's environment (PULSE_SERVER for a sound server of the test's own). */
  env?: NodeJS.ProcessEnv;
  /**
   * Let pages make sound: playwright starts a headless Chromium with --mute-audio, under which
   * nothing a page plays reaches the sound server.
   */
  audible?: boolean;
}

/** `extraArgs` add Chromium switches, e.g. a fake microphone for calls. */
export function launchBrowser(extraArgs: string[] = [], options: BrowserOptions = {}): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    ...(options.env ? { env: options.env } : {}),
    ...(options.audible ? { ignoreDefaultArgs: ['--mute-audio'] } : {}),
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      ...extraArgs,
    ],
  });
}

export interface AppPage {
  context: BrowserContext;
  page: Page;
  /** Uncaught page errors and Content-Security-Policy violations seen so far. */
  problems: string[];
}

/** A fresh browser profile (no cookies, no storage) at the desktop size the UI is made for. */
export async function newAppPage(browser: Browser): Promise<AppPage> {
  const context = await browser.newContext({ viewport: { width: 1000, height: 700 } });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (/Content Security Policy/i.test(message.text())) problems.push(`CSP: ${message.text()}`);
  });
  return { context, page, problems };
}

export async function screenshot(page: Page, name: string): Promise<string> {
  await mkdir(SHOTS_DIR, { recursive: true });
  const file = path.join(SHOTS_DIR, `${name}.png`);
  await page.screenshot({ path: file });
  return file;
}

/** Waits until `list` has an item containing every one of `texts`, and returns it. */
export async function listItemWith(list: Locator, texts: Array<string | RegExp>, timeout = 10_000): Promise<Locator> {
  let item = list.getByRole('listitem');
  for (const text of texts) item = item.filter({ hasText: text });
  await item.first().waitFor({ state: 'visible', timeout });
  return item.first();
}
