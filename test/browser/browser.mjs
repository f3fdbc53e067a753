// Headless Chromium for the page tests: Debian's chromium (CHROMIUM
// overrides its path) driven by playwright-core.
import assert from "node:assert/strict";
import {existsSync} from "node:fs";

import {chromium} from "playwright-core";

export const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";

/** How long a page step may wait. */
export const WAIT = 10000;

/** Launches headless Chromium, failing clearly when it is not installed. */
export async function launchChromium() {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing (apt-get install chromium)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    timeout: 30000,
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
}
