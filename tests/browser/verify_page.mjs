// Drives the /verify page in headless Chromium, as a court clerk would: choose the files, click
// verify, wait for the verdict, and print what the page shows as one JSON line.
//
// Usage: node verify_page.mjs SPEC.json, where SPEC is
//   {"url": "http://127.0.0.1:PORT/verify", "chromium": "/usr/bin/chromium",
//    "cases": [{"bundle": "b.zip", "document": "doc.xml" | null, "screenshot": "out.png"}]}
// and the environment variable PLAYWRIGHT_DIR names the directory where `playwright-core` is
// installed (npm, no browser download: the system Chromium is used).
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.env.PLAYWRIGHT_DIR;
if (!dir) {
  console.error('PLAYWRIGHT_DIR is not set');
  process.exit(2);
}
const require = createRequire(join(dir, 'package.json'));
const { chromium } = require('playwright-core');

const spec = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const browser = await chromium.launch({
  executablePath: spec.chromium,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run'],
});
const results = [];
try {
  const page = await browser.newPage();
  for (const c of spec.cases) {
    await page.goto(spec.url);
    await page.setInputFiles('#bundle', c.bundle);
    if (c.document) {
      await page.setInputFiles('#document', c.document);
    }
    await page.click('#submit');
    // The verdict attribute is empty until the answer is rendered.
    await page.waitForSelector('#verdict[data-verdict]:not([data-verdict=""])', { timeout: 30000 });
    const verdict = await page.getAttribute('#verdict', 'data-verdict');
    const rows = await page.$$eval('tr[data-check]', (trs) =>
      trs.map((tr) => ({ check: tr.dataset.check, status: tr.dataset.status })));
    await page.screenshot({ path: c.screenshot, fullPage: true });
    results.push({ verdict, rows });
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify(results));
