// Drives Debian's Chromium (never a browser that Playwright downloads)
// through one script of steps, for the registry-auth tests.
//
// Started by `registry_auth_testkit::Browser` as
//   node browse.mjs SCRIPT.json
// SCRIPT.json says:
//   chromium          the Chromium executable: /usr/bin/chromium
//   user_data_dir     a fresh, empty (or absent) profile directory
//   home              HOME for Chromium: its NSS database
//                     (home/.pki/nssdb) holds the CAs it trusts; its crash
//                     reports go under it too
//   timeout_ms        bound on the whole run, browser start included
//   step_timeout_ms   default bound on each step
//   failure_screenshot  where to save a full-page PNG when a step fails
//   steps             a list of:
//     {"goto": URL}                 load URL, wait for its load event
//     {"fill": SELECTOR, "value": TEXT}
//     {"click": SELECTOR}           and wait for the navigation it starts
//     {"wait_for_url": PREFIX, "timeout_ms": N}
//                                   until the page, or a main-frame
//                                   navigation request made since the last
//                                   such step, has a URL starting with
//                                   PREFIX: that URL is `captured_url`,
//                                   even when nobody answers there (an
//                                   OAuth redirect URI nobody serves)
//     {"text": SELECTOR}            texts[SELECTOR] = the element's innerText
//     {"screenshot": PATH}          a full-page PNG
//     {"expect_status": N}          the last main-frame document response
//                                   had status N
//
// Prints one line of JSON to stdout, whatever happens:
//   {"ok": true|false, "error": null|"...", "step": null|index of the step
//    that failed, "url", "title", "captured_url", "texts": {}, "statuses": [],
//    "console": [], "failed_requests": [], "screenshot": failure PNG or null,
//    "launch_ms", "elapsed_ms"}
// and exits 0; exits 2 when the script cannot be read. The browser is
// always closed before the report is printed.

import { mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';

import { chromium } from 'playwright-core';

const started = Date.now();

const [scriptPath] = process.argv.slice(2);
if (!scriptPath) {
  console.error('usage: node browse.mjs SCRIPT.json');
  process.exit(2);
}
const script = JSON.parse(readFileSync(scriptPath, 'utf8'));

// Without the background-networking flags Chromium calls Google at start
// (component updates, variations, sync...), which this machine's closed
// network refuses. No proxy from the environment either: every page of a
// test is on 127.0.0.1.
const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-proxy-server',
];

const report = {
  ok: false,
  error: null,
  step: null,
  url: null,
  title: null,
  captured_url: null,
  texts: {},
  statuses: [],
  console: [],
  failed_requests: [],
  screenshot: null,
  launch_ms: null,
  elapsed_ms: null,
};

const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

// Rejects after `ms` with `message`; `cancel` stops the timer.
const deadline = (ms, message) => {
  let timer;
  const promise = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return { promise, cancel: () => clearTimeout(timer) };
};

// `work` bounded by `ms`.
const bounded = async (work, ms, message) => {
  const limit = deadline(ms, message);
  try {
    return await Promise.race([work, limit.promise]);
  } finally {
    limit.cancel();
  }
};

let context;
let page;
// Main-frame navigation requests, redirects included, in order, and how
// many of them `wait_for_url` has looked at.
const navigations = [];
let navigationsSeen = 0;
let lastStatus = null;
let lastStatusUrl = null;

const isMainFrame = (request) => {
  try {
    return request.isNavigationRequest() && request.frame() === page.mainFrame();
  } catch {
    return false;
  }
};

const steps = {
  async goto(step) {
    await page.goto(step.goto, { waitUntil: 'load' });
  },
  async fill(step) {
    await page.fill(step.fill, step.value);
  },
  async click(step) {
    // Playwright waits for a navigation that the click starts to commit;
    // then its page is loaded (or the error page of a refused one is).
    await page.click(step.click);
    await page.waitForLoadState('load');
  },
  async wait_for_url(step) {
    const prefix = step.wait_for_url;
    const timeout = step.timeout_ms ?? script.step_timeout_ms;
    const until = Date.now() + timeout;
    for (;;) {
      const index = navigations.findIndex((url, i) => i >= navigationsSeen && url.startsWith(prefix));
      if (index >= 0) {
        navigationsSeen = index + 1;
        report.captured_url = navigations[index];
        return;
      }
      if (page.url().startsWith(prefix)) {
        navigationsSeen = navigations.length;
        report.captured_url = page.url();
        return;
      }
      if (Date.now() > until) {
        throw new Error(`no navigation to ${prefix} within ${timeout} ms; navigations: ${JSON.stringify(navigations)}`);
      }
      await sleep(25);
    }
  },
  async text(step) {
    report.texts[step.text] = await page.innerText(step.text);
  },
  async screenshot(step) {
    mkdirSync(dirname(step.screenshot), { recursive: true });
    await page.screenshot({ path: step.screenshot, fullPage: true });
  },
  async expect_status(step) {
    if (lastStatus !== step.expect_status) {
      throw new Error(`expected status ${step.expect_status}, the last navigation got ${lastStatus} (${lastStatusUrl})`);
    }
  },
};

const kindOf = (step) => Object.keys(steps).find((kind) => kind in step);

const run = async () => {
  context = await chromium.launchPersistentContext(script.user_data_dir, {
    executablePath: script.chromium,
    headless: true,
    args: ARGS,
    // The test CAs are trusted through the NSS database under HOME: a
    // certificate error stays an error.
    ignoreHTTPSErrors: false,
    env: { ...process.env, HOME: script.home },
    timeout: script.step_timeout_ms * 3,
  });
  report.launch_ms = Date.now() - started;
  context.setDefaultTimeout(script.step_timeout_ms);
  page = context.pages()[0] ?? await context.newPage();
  page.on('request', (request) => {
    if (isMainFrame(request)) navigations.push(request.url());
  });
  page.on('response', (response) => {
    if (isMainFrame(response.request())) {
      lastStatus = response.status();
      lastStatusUrl = response.url();
      report.statuses.push(lastStatus);
    }
  });
  page.on('requestfailed', (request) => {
    report.failed_requests.push(`${request.url()}: ${request.failure()?.errorText}`);
  });
  page.on('console', (message) => {
    if (message.type() === 'error') report.console.push(message.text());
  });
  page.on('pageerror', (error) => report.console.push(`${error.name}: ${error.message}`));

  for (const [index, step] of script.steps.entries()) {
    report.step = index;
    const kind = kindOf(step);
    if (!kind) throw new Error(`unknown step ${JSON.stringify(step)}`);
    await steps[kind](step);
  }
  report.step = null;
  report.ok = true;
};

try {
  await bounded(run(), script.timeout_ms, `the run took over ${script.timeout_ms} ms`);
} catch (error) {
  report.ok = false;
  const where = report.step === null ? 'starting Chromium' : `step ${report.step} ${JSON.stringify(script.steps[report.step])}`;
  // Without Playwright's terminal colours.
  report.error = `${where}: ${error.message.replace(/\x1b\[[0-9;]*m/g, '').trim()}`;
  if (page && script.failure_screenshot) {
    try {
      mkdirSync(dirname(script.failure_screenshot), { recursive: true });
      await bounded(
        page.screenshot({ path: script.failure_screenshot, fullPage: true, timeout: 5000 }),
        6000,
        'screenshot timed out',
      );
      report.screenshot = script.failure_screenshot;
    } catch (screenshotError) {
      console.error(`failure screenshot: ${screenshotError.message}`);
    }
  }
} finally {
  if (page) {
    report.url = page.url();
    report.title = await bounded(page.title(), 2000, 'title timed out').catch(() => null);
  }
  if (context) {
    await bounded(context.close(), 10000, 'closing Chromium timed out').catch((error) => {
      console.error(error.message);
    });
  }
  report.elapsed_ms = Date.now() - started;
}

process.stdout.write(`${JSON.stringify(report)}\n`, () => process.exit(0));
