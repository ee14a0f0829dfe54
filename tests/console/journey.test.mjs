// A new user's path through the console (issue 19), in headless Chromium against the real
// gateway, by visible labels and roles: the wizard with the keyboard alone (Enter in a field does
// not submit), a duplicate name caught on step 2, every error of a field shown and counted, the
// step tabs, the key-pair hints, the draft's difference from each stage, the test panel's stage
// and its signing with a key pair (200 from the gateway, and the curl command it shows works too),
// an OAuth token pasted, the function picker and a Base64 rule (the event's isBase64Encoded),
// "Switch" after a rollback; then every page at a phone's width without sideways scrolling.
//
// Needs `cargo build --bins` first; gateway.mjs lists the overrides.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { chromium } from 'playwright-core';
import { WAIT, chromiumPath, consoleFromSource, functionBin, gatewayBin, startGateway } from './gateway.mjs';

const TOKEN = `console-journey-${randomBytes(12).toString('hex')}`;

/** Signs in: the token dialog, answered. */
async function signIn(page, origin, hash = '') {
  await page.goto(`${origin}/console/${hash}`);
  const dialog = page.getByRole('dialog', { name: 'Admin token' });
  await dialog.waitFor();
  await dialog.getByLabel(/^Token/).fill(TOKEN);
  await dialog.getByLabel(/^Token/).press('Enter');
  // Signed in once the dialog is gone: navigating before that (the token is checked with the
  // admin API first) would leave the next page behind the dialog.
  await dialog.waitFor({ state: 'hidden' });
}

/** Presses Tab until the focused element's label (its <label>, aria-label or text) matches `name`. */
async function tabTo(page, name, limit = 60) {
  for (let presses = 0; presses <= limit; presses += 1) {
    const label = await page.evaluate(() => {
      const element = document.activeElement;
      if (!element) return '';
      return (element.getAttribute('aria-label') || element.labels?.[0]?.textContent || element.textContent || '').trim();
    });
    if (typeof name === 'string' ? label === name || label === `${name} *` : name.test(label)) return;
    await page.keyboard.press('Tab');
  }
  throw new Error(`${name} cannot be reached with Tab`);
}

test('a new user builds, publishes, signs and tests an API, with the keyboard and on a phone', { timeout: 240_000 }, async (t) => {
  for (const [what, file] of [['scfgate', gatewayBin], ['the example function', functionBin], ['chromium', chromiumPath]]) {
    assert.ok(existsSync(file), `${what} is missing at ${file} (run cargo build --bins; install chromium)`);
  }
  const scratch = mkdtempSync(path.join(tmpdir(), 'scfgate-journey-'));
  const gateway = await startGateway(scratch, TOKEN);
  const browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox'] });
  t.after(async () => {
    await browser.close();
    gateway.child.kill('SIGTERM');
  });
  const origin = `http://${gateway.admin}`;
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await consoleFromSource(context);
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  const pageErrors = [];
  page.on('pageerror', (error) => pageErrors.push(String(error)));
  const adminApi = async (pathname) => (await fetch(`${origin}${pathname}`, { headers: { Authorization: `Bearer ${TOKEN}` } })).json();
  const heading = (name) => page.getByRole('heading', { name, exact: true });

  try {
    await signIn(page, origin);
    await page.getByLabel('Service name').fill('store');
    await page.getByRole('button', { name: 'Create service' }).click();
    await page.getByRole('heading', { level: 1, name: 'store' }).waitFor();
    const serviceId = (await page.locator('.page-head .mono').textContent()).trim();

    // --- The wizard with the keyboard alone.
    await tabTo(page, 'Create API');
    await page.keyboard.press('Enter');
    await heading('Step 1 of 4: the service').waitFor();
    await tabTo(page, 'Next');
    await page.keyboard.press('Enter');
    await heading('Step 2 of 4: frontend').waitFor();
    await tabTo(page, 'API name');
    await page.keyboard.type('orders');
    // Enter in a field does not move on.
    await page.keyboard.press('Enter');
    await page.waitForTimeout(300);
    assert.ok(await heading('Step 2 of 4: frontend').isVisible(), 'Enter in the name field left step 2');
    assert.equal(await page.getByRole('alert').count(), 0);
    await tabTo(page, 'Authentication');
    await page.keyboard.press('ArrowDown');
    assert.equal(await page.getByLabel('Authentication').inputValue(), 'key_pair');
    // Where key-pair auth is chosen, the user learns that a usage plan must be bound to the stage.
    await page.getByText('A key pair works only on a stage that a usage plan holding it is bound to').waitFor();
    await tabTo(page, 'Path');
    await page.keyboard.type('/orders/{id}');
    await tabTo(page, 'Add parameter');
    await page.keyboard.press('Enter');
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('aria-label')), 'Parameter 1 name');
    await page.keyboard.type('id');
    await page.keyboard.press('Tab');
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('ArrowDown');
    assert.equal(await page.getByLabel('Parameter 1 location').inputValue(), 'path');
    await tabTo(page, 'Next');
    await page.keyboard.press('Enter');
    await heading('Step 3 of 4: SCF backend').waitFor();
    // The function is picked from the list: namespace, function, qualifier.
    await tabTo(page, 'Function name');
    await page.keyboard.press('ArrowDown');
    assert.equal(await page.getByLabel('Function name').inputValue(), 'echo');
    assert.equal(await page.evaluate(() => document.activeElement?.labels?.[0]?.textContent), 'Function name *');
    assert.deepEqual(await page.getByLabel('Version or alias (qualifier)').locator('option').allTextContents(), ['$LATEST']);
    await page.keyboard.press('Enter');
    await page.waitForTimeout(300);
    assert.ok(await heading('Step 3 of 4: SCF backend').isVisible(), 'Enter in the function field left step 3');
    await tabTo(page, 'Next');
    await page.keyboard.press('Enter');
    await heading('Step 4 of 4: responses').waitFor();
    await tabTo(page, 'Add error code');
    await page.keyboard.press('Enter');
    await page.keyboard.type('404');
    // Enter on step 4 must not create the API.
    await page.keyboard.press('Enter');
    await page.waitForTimeout(500);
    assert.equal((await adminApi(`/v1/services/${serviceId}/apis`)).total_count, 0, 'Enter in a step-4 field created the API');
    await page.keyboard.press('Tab');
    await page.keyboard.type('no such order');
    await tabTo(page, 'Create API');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: 'store' }).waitFor();
    await page.getByRole('row', { name: /orders/ }).getByText('/orders/{id}').waitFor();

    // --- A second API: the name taken, and two errors of one path, are all shown on step 2.
    await page.getByRole('link', { name: 'Create API' }).click();
    await page.getByRole('button', { name: 'Next' }).click();
    await page.getByLabel('API name').fill('orders');
    await page.getByLabel('Path').fill('items/{sku}');
    await page.getByRole('button', { name: 'Next' }).click();
    const errorsOf = (label) => page.locator('.field').filter({ has: page.getByLabel(label) }).locator('.field-error');
    await errorsOf('API name').getByText('the service already has an API named orders').waitFor();
    await errorsOf('Path').getByText('must start with /').waitFor();
    await errorsOf('Path').getByText('{sku} is in the path but not declared').waitFor();
    assert.equal(await page.locator('[aria-invalid="true"]').count(), 2);
    await page.getByRole('alert').getByText('Fix the 2 fields marked below.', { exact: true }).waitFor();
    assert.equal(await page.getByRole('heading', { name: 'Step 2 of 4: frontend' }).count(), 1);
    await page.getByLabel('API name').fill('stock');
    await page.getByLabel('Path').fill('/items/{sku}');
    await page.getByRole('button', { name: 'Add parameter' }).click();
    await page.getByLabel('Parameter 1 name').fill('sku');
    await page.getByLabel('Parameter 1 location').selectOption('path');
    // The required box sits on the line of the row's inputs.
    const box = await page.getByLabel('Parameter 1 required').boundingBox();
    const nameBox = await page.getByLabel('Parameter 1 name').boundingBox();
    assert.ok(Math.abs(box.y + box.height / 2 - (nameBox.y + nameBox.height / 2)) <= 2, `the Required checkbox is out of line (${box.y} vs ${nameBox.y})`);

    // --- The step tabs: forward runs the checks on the way (no function yet: stops at step 3).
    await page.getByRole('button', { name: 'Step 4: Response' }).click();
    await heading('Step 3 of 4: SCF backend').waitFor();
    await errorsOf('Function name').getByText('required: pick a function').waitFor();
    await page.getByLabel('Function name').selectOption('echo');
    await page.getByRole('button', { name: 'Step 2: Frontend' }).click();
    await heading('Step 2 of 4: frontend').waitFor();
    assert.equal(await page.getByLabel('Path').inputValue(), '/items/{sku}');
    // A WebSocket API has no response integration.
    await page.getByLabel('WS & WSS (WebSocket)').check();
    await page.getByRole('button', { name: 'Step 3: Backend' }).click();
    await heading('Step 3 of 4: SCF backend').waitFor();
    await page.getByRole('group', { name: 'Transport function' }).waitFor();
    assert.equal(await page.getByLabel('Response integration').count(), 0);
    await page.getByRole('button', { name: 'Step 2: Frontend' }).click();
    await page.getByLabel('HTTP & HTTPS').check();
    await page.getByRole('button', { name: 'Step 3: Backend' }).click();
    await page.getByLabel('Response integration').waitFor();
    assert.equal(await page.getByLabel('Function name').inputValue(), 'echo');
    await page.getByRole('button', { name: 'Step 4: Response' }).click();
    await heading('Step 4 of 4: responses').waitFor();
    // The admin API's message, without its internal prefix and backticks.
    await page.getByRole('button', { name: 'Add error code' }).click();
    await page.getByLabel('Error code 1 code').fill('404');
    await page.getByRole('button', { name: 'Create API' }).click();
    const refused = page.getByRole('alert').filter({ hasText: 'The gateway refused the API' });
    await refused.waitFor();
    const refusal = await refused.textContent();
    assert.match(refusal, /error code 404 message: required but missing/);
    assert.doesNotMatch(refusal, /`|field |service-/, 'the message keeps the config file prefix');
    await page.getByRole('button', { name: 'Remove error code 1' }).click();
    await page.getByRole('button', { name: 'Create API' }).click();
    await page.getByRole('row', { name: /stock/ }).waitFor();

    // --- Before publishing: what the draft would change, and the missing usage plan.
    const stageRow = (stage) => page.locator(`tr[data-stage="${stage}"]`);
    await stageRow('release').getByText('Draft differs from release: 2 changes').click();
    await stageRow('release').getByText('added orders').waitFor();
    await stageRow('release').getByText('added stock').waitFor();
    await stageRow('release').getByText('no usage plan with key pairs is bound to release').waitFor();
    await page.getByRole('button', { name: 'Publish to prepub' }).click();
    await stageRow('prepub').getByText('release #1 since').waitFor();
    await page.getByRole('button', { name: 'Publish to release' }).click();
    await stageRow('release').getByText('release #2 since').waitFor();
    await stageRow('release').getByText('The draft is what release serves.').waitFor();

    // --- The test panel starts on the stage just published (release, not prepub).
    await page.screenshot({ path: path.join(scratch, 'service-published.png'), fullPage: true });
    await page.getByRole('link', { name: 'Test API stock' }).click();
    await page.getByRole('heading', { level: 1, name: 'Test stock' }).waitFor();
    assert.equal(await page.getByLabel('Stage').inputValue(), 'release');
    await page.getByRole('button', { name: 'Send request' }).click();
    await page.locator('[data-testid="status"]').getByText('200').waitFor();

    // --- A key pair and a usage plan binding it to release.
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Key pairs' }).click();
    await page.getByRole('button', { name: 'Create key pair' }).click();
    const notice = page.getByRole('region', { name: /^Key pair AKID\w+ created$/ });
    await notice.waitFor();
    const secretId = await notice.getByLabel('SecretId').inputValue();
    const secretKey = await notice.getByLabel('SecretKey').inputValue();
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Usage plans' }).click();
    await page.getByRole('link', { name: 'Create usage plan' }).click();
    await page.getByLabel('Usage plan name').fill('basic');
    await page.getByLabel('store / release').check();
    await page.getByLabel(secretId).check();
    await page.getByRole('button', { name: 'Create usage plan' }).click();
    await page.getByRole('row', { name: /basic/ }).waitFor();

    // --- Signed in the page: the SecretKey pasted (a reload forgets the one just created).
    await page.goto(`${origin}/console/#/services/${serviceId}`);
    await page.reload();
    await page.getByRole('heading', { level: 1, name: 'store' }).waitFor();
    assert.equal(await stageRow('release').getByText('no usage plan with key pairs is bound').count(), 0);
    await stageRow('prepub').getByText('no usage plan with key pairs is bound to prepub').waitFor();
    await page.getByRole('link', { name: 'Test API orders' }).click();
    await page.getByRole('heading', { level: 1, name: 'Test orders' }).waitFor();
    assert.equal(await page.getByLabel('Key pair (SecretId)').inputValue(), secretId);
    await page.getByText('Usage plan basic lets this key call release.').waitFor();
    await page.getByRole('button', { name: 'Send request' }).click();
    await errorsOf('SecretKey').getByText('required: paste the SecretKey').waitFor();
    await page.getByLabel('SecretKey').fill('not-the-key');
    await page.getByRole('button', { name: 'Send request' }).click();
    await page.locator('[data-testid="status"]').getByText('401').waitFor();
    await page.getByLabel('SecretKey').fill(secretKey);
    await page.getByRole('button', { name: 'Send request' }).click();
    await page.locator('[data-testid="status"]').getByText('200').waitFor();
    const event = JSON.parse(await page.locator('[data-testid="event"]').textContent());
    assert.equal(event.pathParameters.id, '1');
    assert.match(event.headers.authorization, new RegExp(`^hmac id="${secretId}", algorithm="hmac-sha1", headers="x-date source", signature="`));
    const curl = await page.getByLabel('The same request with curl').inputValue();
    assert.match(curl, /^curl -i 'http:\/\/127\.0\.0\.1:\d+\/release\/orders\/1' -H 'X-Date: .+ GMT' -H 'Source: scfgate-console' -H 'Authorization: hmac id=/);
    assert.ok(!curl.includes(secretKey), 'the curl command holds the SecretKey');
    await page.screenshot({ path: path.join(scratch, 'test-panel-signed.png'), fullPage: true });
    const curlOutput = execFileSync('sh', ['-c', curl], { encoding: 'utf8' });
    assert.match(curlOutput, /^HTTP\/1\.1 200/, curlOutput);

    // --- Base64 encoding by a header rule (Tencent's base64EncodedTriggerRules): a rule without
    // values is refused by the gateway at its input; then an image/ body reaches the function
    // base64-encoded, and a text one as it is.
    await page.getByRole('navigation', { name: 'Breadcrumb' }).getByRole('link', { name: 'store' }).click();
    await page.getByRole('link', { name: 'Edit API stock' }).click();
    await page.getByRole('button', { name: 'Step 3: Backend' }).click();
    await page.getByLabel('Base64 encoding').selectOption('rules');
    assert.equal(await page.getByLabel('Base64 rule 1 header').inputValue(), 'Content-Type');
    await page.getByRole('button', { name: 'Step 4: Response' }).click();
    await page.getByRole('button', { name: 'Save API' }).click();
    await page.locator('[data-field="base64_rule #1.values"] ~ .field-error').getByText('required: at least one value').waitFor();
    await heading('Step 3 of 4: SCF backend').waitFor();
    await page.getByLabel('Base64 rule 1 values').fill('image/');
    await page.getByRole('button', { name: 'Next' }).click();
    await page.getByRole('button', { name: 'Save API' }).click();
    await page.getByRole('heading', { level: 1, name: 'store' }).waitFor();

    // --- An OAuth 2.0 API (an ES256 key made here), to test with a pasted token.
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const part = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const unsigned = `${part({ alg: 'ES256', typ: 'JWT' })}.${part({ sub: 'user-7', exp: Math.floor(Date.now() / 1000) + 600 })}`;
    const jwt = `${unsigned}.${sign('sha256', Buffer.from(unsigned), { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
    await page.getByRole('link', { name: 'Create API' }).click();
    await page.getByRole('button', { name: 'Next' }).click();
    await page.getByLabel('API name').fill('me');
    await page.getByLabel('Path').fill('=/me');
    await page.getByLabel('Authentication').selectOption('oauth');
    await page.getByLabel('Public key (JWK JSON)').fill(JSON.stringify(publicKey.export({ format: 'jwk' })));
    await page.getByLabel('Algorithm').selectOption('ES256');
    await page.getByRole('button', { name: 'Next' }).click();
    await page.getByLabel('Function name').selectOption('echo');
    await page.getByRole('button', { name: 'Next' }).click();
    await page.getByRole('button', { name: 'Create API' }).click();
    await page.getByRole('row', { name: /\bme\b/ }).waitFor();

    await stageRow('release').getByText('Draft differs from release: 2 changes').click();
    await stageRow('release').getByText('added me').waitFor();
    await stageRow('release').getByText('changed stock: base64, base64_rule').waitFor();
    await page.getByRole('button', { name: 'Publish to release' }).click();
    await stageRow('release').getByText('release #3 since').waitFor();
    assert.deepEqual((await adminApi(`/v1/services/${serviceId}/apis/stock`)).base64_rule, [{ header: 'Content-Type', values: ['image/'] }]);
    await page.getByRole('link', { name: 'Test API stock' }).click();
    await page.getByLabel('Headers').fill('Content-Type: image/png');
    await page.getByLabel('Body').fill('hello');
    await page.getByRole('button', { name: 'Send request' }).click();
    await page.locator('[data-testid="status"]').getByText('200').waitFor();
    const encoded = JSON.parse(await page.locator('[data-testid="event"]').textContent());
    assert.deepEqual([encoded.isBase64Encoded, encoded.body], [true, 'aGVsbG8=']);
    await page.getByLabel('Headers').fill('Content-Type: text/plain');
    await page.getByRole('button', { name: 'Send request' }).click();
    await page.locator('[data-testid="event"]').getByText('"body": "hello"').waitFor();
    const plain = JSON.parse(await page.locator('[data-testid="event"]').textContent());
    assert.deepEqual([plain.isBase64Encoded, plain.body], [false, 'hello']);

    // --- The OAuth API: refused without a token, served with the pasted one.
    await page.getByRole('navigation', { name: 'Breadcrumb' }).getByRole('link', { name: 'store' }).click();
    await page.getByRole('link', { name: 'Test API me' }).click();
    await page.getByText('Sent as Authorization: Bearer <token>.').waitFor();
    await page.getByRole('button', { name: 'Send request' }).click();
    await page.locator('[data-testid="status"]').getByText('401').waitFor();
    await page.getByLabel('OAuth token (id_token)').fill(jwt);
    await page.getByRole('button', { name: 'Send request' }).click();
    await page.locator('[data-testid="status"]').getByText('200').waitFor();
    assert.equal(JSON.parse(await page.locator('[data-testid="event"]').textContent()).requestContext.identity.sub, 'user-7');
    assert.match(await page.getByLabel('The same request with curl').inputValue(), new RegExp(`-H 'Authorization: Bearer ${jwt.replace(/[.]/g, '\\.')}'`));

    // --- Rolled back, the newer release is a switch forward, not a rollback.
    await page.getByRole('navigation', { name: 'Breadcrumb' }).getByRole('link', { name: 'store' }).click();
    await page.getByLabel('Release description for release').fill('again');
    await page.getByRole('button', { name: 'Publish to release' }).click();
    await stageRow('release').getByText('release #4 since').waitFor();
    await page.getByRole('button', { name: 'Roll back release to #3' }).click();
    await page.getByRole('dialog', { name: 'Roll back' }).getByRole('button', { name: 'Roll back to #3' }).click();
    await stageRow('release').getByText('release #3 since').waitFor();
    await page.getByRole('button', { name: 'Switch release to #4' }).waitFor();
    assert.equal(await page.getByRole('button', { name: /^Roll back release to #4/ }).count(), 0);

    // --- A phone: every page fits 390 px with no sideways scrolling.
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    await consoleFromSource(phone);
    const small = await phone.newPage();
    small.setDefaultTimeout(WAIT);
    small.on('pageerror', (error) => pageErrors.push(String(error)));
    await signIn(small, origin);
    const fits = async (hash, ready) => {
      await small.goto(`${origin}/console/${hash}`);
      await ready();
      const widths = await small.evaluate(() => ({ scroll: document.documentElement.scrollWidth, view: document.documentElement.clientWidth }));
      assert.ok(widths.scroll <= widths.view, `${hash} is ${widths.scroll} px wide at ${widths.view} px`);
      await small.screenshot({ path: path.join(scratch, `phone-${hash.replace(/[^a-z0-9]+/gi, '-')}.png`), fullPage: true });
    };
    const h1 = (name) => () => small.getByRole('heading', { level: 1, name }).waitFor();
    await fits('#/services', h1('Services'));
    // The top bar's links sit clear of the data-plane line.
    const link = await small.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Key pairs' }).boundingBox();
    const info = await small.locator('#gateway-info').boundingBox();
    assert.ok(link.y + link.height <= info.y || info.y + info.height <= link.y, 'the Key pairs link overlaps the data-plane line');
    await fits(`#/services/${serviceId}`, h1('store'));
    assert.ok((await small.getByLabel('Release description for release').boundingBox()).width >= 200, 'the What changed input is squeezed');
    await fits(`#/services/${serviceId}/settings`, h1('Settings of store'));
    await fits(`#/services/${serviceId}/apis/orders/edit`, h1('Edit API orders'));
    for (const step of ['Step 2: Frontend', 'Step 3: Backend', 'Step 4: Response']) {
      await small.getByRole('button', { name: step }).click();
      await small.getByRole('heading', { name: new RegExp(`^Step ${step[5]} of 4`) }).waitFor();
      const widths = await small.evaluate(() => ({ scroll: document.documentElement.scrollWidth, view: document.documentElement.clientWidth }));
      assert.ok(widths.scroll <= widths.view, `wizard ${step} is ${widths.scroll} px wide`);
      await small.screenshot({ path: path.join(scratch, `phone-wizard-${step[5]}.png`), fullPage: true });
      if (step === 'Step 2: Frontend') {
        assert.ok((await small.getByLabel('Parameter 1 data type').boundingBox()).width >= 150, 'the data type select is squeezed');
        const card = await small.locator('form.wizard').boundingBox();
        const table = await small.locator('.list-editor table').boundingBox();
        assert.ok(table.x + table.width <= card.x + card.width, 'the parameters table spills out of its card');
      }
    }
    await fits(`#/services/${serviceId}/apis/orders/test`, h1('Test orders'));
    await fits(`#/services/${serviceId}/stages/release/docs`, h1('Documentation of store (release)'));
    await fits('#/functions', h1('Functions'));
    await fits('#/usage-plans', h1('Usage plans'));
    await fits('#/usage-plans/new', h1('Create usage plan'));
    await fits('#/usage-plans/basic/edit', h1('Edit usage plan basic'));
    await fits(`#/services/${serviceId}/apis/new`, h1('Create API'));
    await fits('#/secrets', h1('Key pairs'));
    await fits('#/monitoring', h1('Monitoring'));
    t.diagnostic(`screenshots: ${scratch}`);

    assert.deepEqual(pageErrors, [], 'the page logged errors');
  } catch (error) {
    await page.screenshot({ path: path.join(scratch, 'failure.png'), fullPage: true }).catch(() => {});
    t.diagnostic(`failure screenshot: ${path.join(scratch, 'failure.png')}\ngateway output:\n${gateway.output()}`);
    throw error;
  }
  rmSync(path.join(scratch, 'state'), { recursive: true, force: true });
});
