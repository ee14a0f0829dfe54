// The console's Monitoring page end to end, in headless Chromium: the real gateway with the
// example `echo` function; a service and API are made through the admin API (the console's
// forms are console.test.mjs's subject), traffic is sent from node, and the page is read as a
// user sees it: the empty state first, then, after its own refreshes, each API's totals, the
// row of requests that matched no API, the drawn charts, the functions' instances, the filters;
// and once the page is left it stops asking for figures.
//
// Needs `cargo build --bins` first; gateway.mjs lists the overrides. Screenshots go to a temp
// folder (printed); CONSOLE_MONITORING_SCREENSHOT=docs/console-monitoring.png also saves the
// page with traffic there.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium } from 'playwright-core';
import { WAIT, callApi, chromiumPath, consoleFromSource, functionBin, gatewayBin, repo, startGateway } from './gateway.mjs';

const TOKEN = `console-e2e-${randomBytes(12).toString('hex')}`;

test('the monitoring page shows each API’s last hour, the unmatched requests and the functions’ instances, refreshing while shown', { timeout: 180_000 }, async (t) => {
  for (const [what, file] of [['scfgate', gatewayBin], ['the example function', functionBin], ['chromium', chromiumPath]]) {
    assert.ok(existsSync(file), `${what} is missing at ${file} (run cargo build --bins; install chromium)`);
  }
  const scratch = mkdtempSync(path.join(tmpdir(), 'scfgate-console-monitoring-'));
  const shots = path.join(scratch, 'screenshots');
  const gateway = await startGateway(scratch, TOKEN);
  const browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox'] });
  t.after(async () => {
    await browser.close();
    gateway.child.kill('SIGTERM');
  });
  const origin = `http://${gateway.admin}`;
  const admin = async (method, pathname, body) => {
    const response = await fetch(`${origin}${pathname}`, {
      method,
      headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = await response.json().catch(() => null);
    assert.ok(response.ok, `${method} ${pathname} answered ${response.status}: ${JSON.stringify(json)}`);
    return json;
  };

  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await consoleFromSource(context);
  // The token prompt is console.test.mjs's subject: this tab starts signed in.
  await context.addInitScript((token) => sessionStorage.setItem('scfgate-admin-token', token), TOKEN);
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  const foreign = [];
  const pageErrors = [];
  let historyCalls = 0;
  page.on('request', (request) => {
    const url = request.url();
    if (!url.startsWith(`${origin}/`)) foreign.push(url);
    if (new URL(url).pathname === '/v1/metrics/history') historyCalls += 1;
  });
  page.on('pageerror', (error) => pageErrors.push(String(error)));
  page.on('console', (message) => {
    if (message.type() === 'error') pageErrors.push(message.text());
  });
  let shot = 0;
  const screenshot = async (name) => {
    shot += 1;
    const file = path.join(shots, `${String(shot).padStart(2, '0')}-${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    return file;
  };
  t.diagnostic(`screenshots: ${shots}`);

  try {
    // --- A service with one API on the echo function, published to release.
    const service = await admin('POST', '/v1/services', {
      name: 'shop',
      api: [
        {
          name: 'say-hello',
          path: '/hello',
          method: 'GET',
          param: [{ name: 'count', position: 'query', type: 'int' }],
          function: { name: 'echo' },
        },
      ],
    });
    await admin('POST', `/v1/services/${service.id}/releases`, { stage: 'release', description: 'monitored' });

    // --- Before any traffic: the page says so, and the instance is there.
    await page.goto(`${origin}/console/`);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Monitoring' }).click();
    await page.getByRole('heading', { level: 1, name: 'Monitoring' }).waitFor();
    assert.equal(await page.getByRole('link', { name: 'Monitoring' }).getAttribute('aria-current'), 'page');
    await page.getByText('No requests in the last hour.', { exact: true }).waitFor();
    const echoRow = page.locator('tr[data-function="default/echo:$LATEST"]');
    await echoRow.waitFor();
    await screenshot('empty');

    // --- Traffic from outside, in two bursts, each seen by the page's own refresh (no reload):
    // answered requests, two that fail the declared int param (400), one the function fails
    // (5xx), and one that matches no API (404).
    const expectStatus = async (pathAndQuery, check) => {
      const answer = await callApi(gateway.data, pathAndQuery);
      assert.ok(check(answer.status), `${pathAndQuery} answered ${answer.status}: ${answer.text}`);
    };
    for (let index = 0; index < 5; index += 1) await expectStatus(`/release/hello?count=${index}`, (status) => status === 200);
    for (let index = 0; index < 2; index += 1) await expectStatus('/release/hello?count=many', (status) => status === 400);
    const apiRow = page.getByRole('row', { name: /say-hello/ });
    await apiRow.locator('[data-total="requests"]').getByText('7', { exact: true }).waitFor();
    assert.equal(historyCalls >= 2, true, 'the figures came without a refresh of the page');

    for (let index = 0; index < 3; index += 1) await expectStatus(`/release/hello?scf_sleep_ms=${20 * (index + 1)}`, (status) => status === 200);
    await expectStatus('/release/hello?scf_error=boom', (status) => status >= 500);
    await expectStatus(`/release/no-such-api-${randomBytes(4).toString('hex')}`, (status) => status === 404);
    const sent = 11;
    await apiRow.locator('[data-total="requests"]').getByText(String(sent), { exact: true }).waitFor();

    // --- The totals over the hour.
    assert.deepEqual(
      (await apiRow.getByRole('cell').allTextContents()).slice(0, 7),
      ['shop', 'release', 'GET', String(sent), '2', '1', '27.3%'],
    );
    const unmatchedRow = page.getByRole('row', { name: /Requests that matched no API/ });
    await unmatchedRow.locator('[data-total="requests"]').getByText('1', { exact: true }).waitFor();
    assert.equal(await unmatchedRow.locator('[data-total="4xx"]').textContent(), '1');
    assert.equal(await unmatchedRow.locator('[data-total="error-rate"]').textContent(), '100.0%');

    // --- The API's charts: bars for the minutes with requests (adding up to what was sent, errors
    // drawn apart) and latency markers.
    const card = page.getByRole('article', { name: /say-hello/ });
    await card.getByRole('heading', { level: 3, name: /say-hello · shop · release/ }).waitFor();
    await card.getByText(`${sent} requests · 27.3% errors (2 4xx, 1 5xx)`).waitFor();
    const requestsChart = card.locator('svg.requests-chart');
    assert.match(await requestsChart.getAttribute('aria-label'), new RegExp(`${sent} in all, 2 4xx, 1 5xx`));
    const drawnRequests = await requestsChart.locator('g.minute').evaluateAll((steps) => steps.reduce((sum, step) => sum + Number(step.dataset.requests), 0));
    assert.equal(drawnRequests, sent);
    assert.ok((await requestsChart.locator('rect.bar.fine').count()) >= 1, 'no bar for the answered requests');
    assert.ok((await requestsChart.locator('rect.bar.client-error').count()) >= 1, 'no bar for the 4xx');
    assert.ok((await requestsChart.locator('rect.bar.server-error').count()) >= 1, 'no bar for the 5xx');
    for (const bar of await requestsChart.locator('rect.bar').all()) assert.ok(Number(await bar.getAttribute('height')) > 0);
    const latencyChart = card.locator('svg.latency-chart');
    assert.ok((await latencyChart.locator('circle.marker.p50').count()) >= 1, 'no p50 point');
    assert.ok((await latencyChart.locator('circle.marker.p99').count()) >= 1, 'no p99 point');
    // Time labels in local HH:MM along the hour, values up the side.
    const timeLabels = await requestsChart.locator('text.time-label').allTextContents();
    assert.ok(timeLabels.length >= 5 && timeLabels.every((label) => /^\d\d:\d\d$/.test(label)), `time labels: ${timeLabels}`);
    assert.ok((await requestsChart.locator('text.value-label').count()) >= 2);
    await page.getByRole('article', { name: 'Requests that matched no API' }).locator('svg.requests-chart g.minute').first().waitFor();

    // --- The function's instance, idle once the requests are answered.
    await page.waitForFunction(() => Number(document.querySelector('tr[data-function="default/echo:$LATEST"] td:nth-of-type(3)')?.textContent) >= 1);
    const [kind, starting, idle, busy, starts] = await echoRow.getByRole('cell').allTextContents();
    assert.equal(kind, 'event');
    assert.ok(Number(idle) >= 1 && Number(starts) >= 1, `echo: starting ${starting}, idle ${idle}, busy ${busy}, starts ${starts}`);
    const monitoringShot = await screenshot('traffic');
    if (process.env.CONSOLE_MONITORING_SCREENSHOT) copyFileSync(monitoringShot, path.resolve(repo, process.env.CONSOLE_MONITORING_SCREENSHOT));
    assert.doesNotMatch(await page.locator('main').innerText(), /\b(null|undefined|NaN)\b/, 'the page shows a missing value as text');

    // --- Filters: another stage has no traffic; the service keeps its API and drops the
    // unmatched requests (they belong to no service); both are kept in the address.
    await page.getByLabel('Stage').selectOption('test');
    await page.getByText('No requests in the last hour for this service and stage.').waitFor();
    assert.match(page.url(), /#\/monitoring\?stage=test$/);
    await page.getByLabel('Stage').selectOption('');
    await page.getByLabel('Service').selectOption(service.id);
    await apiRow.waitFor();
    assert.equal(await unmatchedRow.count(), 0);
    assert.equal(new URL(page.url()).hash, `#/monitoring?service=${service.id}`);
    await page.reload();
    await page.getByRole('heading', { level: 1, name: 'Monitoring' }).waitFor();
    assert.equal(await page.getByLabel('Service').inputValue(), service.id);
    await apiRow.waitFor();
    assert.equal(await unmatchedRow.count(), 0);

    // --- Leaving the page stops its refresh.
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Services' }).click();
    await page.getByRole('heading', { level: 1, name: 'Services' }).waitFor();
    const callsWhenLeft = historyCalls;
    await sleep(12_000);
    assert.equal(historyCalls, callsWhenLeft, 'the monitoring page kept refreshing after it was left');

    assert.deepEqual(foreign, [], 'the console fetched from elsewhere');
    assert.deepEqual(pageErrors, [], 'the page logged errors');
  } catch (error) {
    await page.screenshot({ path: path.join(shots, 'failure.png'), fullPage: true }).catch(() => {});
    t.diagnostic(`gateway output:\n${gateway.output()}`);
    throw error;
  }
  rmSync(path.join(scratch, 'state'), { recursive: true, force: true });
});
