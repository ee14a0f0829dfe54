// The web console end to end, in headless Chromium: the real gateway binary with the admin API
// and the example `echo` function, driven as a user would: sign in with the token, create a
// service (keyboard only), create an API through the four steps (the inline checks for a long
// name, an undeclared path parameter, no function picked, and a server-side error), publish,
// call the API from the test panel and from node, edit and publish again, roll back. Then the
// pages around it: a stage variable set in the service settings reaches the function after a
// publish; an OpenAPI file is imported (its unmappable PATCH reported); the generated docs are
// viewed in their sandboxed frame; a key pair is created (its SecretKey shown once) and a usage
// plan binds it to the service's release stage.
//
// Needs `cargo build --bins` first (it builds nothing); gateway.mjs lists the overrides.
// Screenshots of each step go to a temp folder (printed); CONSOLE_SCREENSHOT=docs/console.png
// also saves the final one there.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { chromium } from 'playwright-core';
import { WAIT, callApi, chromiumPath, consoleFromSource, functionBin, gatewayBin, repo, startGateway } from './gateway.mjs';

const TOKEN = `console-e2e-${randomBytes(12).toString('hex')}`;

test('the console creates, publishes, tests, edits and rolls back an API, and manages the service, its docs, usage plans and key pairs', { timeout: 180_000 }, async (t) => {
  for (const [what, file] of [['scfgate', gatewayBin], ['the example function', functionBin], ['chromium', chromiumPath]]) {
    assert.ok(existsSync(file), `${what} is missing at ${file} (run cargo build --bins; install chromium)`);
  }
  const scratch = mkdtempSync(path.join(tmpdir(), 'scfgate-console-'));
  const shots = path.join(scratch, 'screenshots');
  const gateway = await startGateway(scratch, TOKEN);
  const browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox'] });
  t.after(async () => {
    await browser.close();
    gateway.child.kill('SIGTERM');
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await consoleFromSource(context);
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);

  // Everything the page loads must come from the admin listener, and nothing may be refused by
  // the Content-Security-Policy (which would show as a console error).
  const origin = `http://${gateway.admin}`;
  const foreign = [];
  const pageErrors = [];
  page.on('request', (request) => {
    const url = request.url();
    if (!url.startsWith(`${origin}/`) && !url.startsWith('blob:') && !url.startsWith('data:')) foreign.push(url);
  });
  page.on('pageerror', (error) => pageErrors.push(String(error)));
  page.on('console', (message) => {
    // Refused API calls (401 before the token, 400 for validation) are logged by the browser.
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) pageErrors.push(message.text());
  });

  let shot = 0;
  const screenshot = async (name) => {
    shot += 1;
    await page.screenshot({ path: path.join(shots, `${String(shot).padStart(2, '0')}-${name}.png`), fullPage: true });
  };
  t.diagnostic(`screenshots: ${shots}`);

  try {
    // --- The console's files need no token (they hold no secret); the API does.
    const script = await fetch(`${origin}/console/app.js`);
    assert.equal(script.status, 200);
    assert.equal(script.headers.get('content-type'), 'text/javascript; charset=utf-8');
    assert.match(script.headers.get('content-security-policy'), /^default-src 'self'/);
    assert.equal(script.headers.get('cache-control'), 'no-cache');
    assert.equal((await fetch(`${origin}/v1/services`)).status, 401);

    // --- The token: asked for once the API answers 401; a wrong one is asked for again.
    await page.goto(`${origin}/`);
    assert.equal(new URL(page.url()).pathname, '/console/');
    const tokenDialog = page.getByRole('dialog', { name: 'Admin token' });
    await tokenDialog.waitFor();
    await screenshot('token');
    await tokenDialog.getByLabel(/^Token/).fill('not-the-token');
    await tokenDialog.getByLabel(/^Token/).press('Enter');
    await tokenDialog.getByText('That token was refused').waitFor();
    await tokenDialog.getByLabel(/^Token/).fill(TOKEN);
    await tokenDialog.getByLabel(/^Token/).press('Enter');
    await page.getByRole('heading', { level: 1, name: 'Services' }).waitFor();
    await page.getByText('No services yet').waitFor();

    // --- Create a service with the keyboard only: Tab to the name, type, Enter.
    let tabs = 0;
    while (!(await page.evaluate(() => document.activeElement?.closest('.field')?.querySelector('label')?.textContent?.startsWith('Service name')))) {
      assert.ok(++tabs <= 20, 'the service name input cannot be reached with Tab');
      await page.keyboard.press('Tab');
    }
    await page.keyboard.type('shop');
    await page.keyboard.press('Tab');
    await page.keyboard.type('The shop APIs');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: 'shop' }).waitFor();
    const serviceId = (await page.locator('.page-head .mono').textContent()).trim();
    assert.match(serviceId, /^service-[a-z0-9]{8}$/);
    await page.getByText('No APIs yet').waitFor();
    await screenshot('service');

    // --- Step 1: the service.
    await page.getByRole('link', { name: 'Create API' }).click();
    await page.getByRole('heading', { name: 'Step 1 of 4: the service' }).waitFor();
    assert.match(await page.getByLabel('Service').locator('option:checked').textContent(), new RegExp(serviceId));
    await page.getByRole('button', { name: 'Next' }).click();

    // --- Step 2: a 61-character name and an undeclared {id} are shown inline, then fixed.
    await page.getByRole('heading', { name: 'Step 2 of 4: frontend' }).waitFor();
    await page.getByLabel('API name').fill('a'.repeat(61));
    await page.getByLabel('Path').fill('/items/{id}');
    await page.getByRole('button', { name: 'Next' }).click();
    const nameError = page.locator('[data-field="name"] ~ .field-error');
    await nameError.getByText('61 characters long; at most 60 are allowed').waitFor();
    await page.locator('[data-field="path"] ~ .field-error').getByText('{id} is in the path but not declared').waitFor();
    assert.equal(await page.getByLabel('API name').getAttribute('aria-invalid'), 'true');
    await screenshot('step2-errors');
    await page.getByLabel('API name').fill('get-item');
    await page.getByLabel('Description').fill('One item by id');
    await page.getByRole('button', { name: 'Add parameter' }).click();
    await page.getByLabel('Parameter 1 name').fill('id');
    await page.getByLabel('Parameter 1 location').selectOption('path');
    await page.getByLabel('Parameter 1 data type').selectOption('long');
    await page.getByLabel('Parameter 1 sample').fill('42');
    await page.getByRole('button', { name: 'Next' }).click();

    // --- Step 3: a function that is not in the list is shown inline, then the echo function.
    await page.getByRole('heading', { name: 'Step 3 of 4: SCF backend' }).waitFor();
    assert.equal(await page.getByLabel('Namespace', { exact: true }).first().inputValue(), 'default');
    await page.getByRole('button', { name: 'Next' }).click();
    await page.locator('[data-field="function"] ~ .field-error').getByText('required: pick a function from the list').waitFor();
    await screenshot('step3-missing-function');
    await page.getByLabel('Function name').first().selectOption('echo');
    await page.getByLabel('Backend timeout (seconds)').fill('10');
    await page.getByRole('button', { name: 'Next' }).click();

    // --- Step 4: an error code without a message: the admin API refuses it, shown at its input.
    await page.getByRole('heading', { name: 'Step 4 of 4: responses' }).waitFor();
    await page.getByLabel('Success response sample').fill('{"id": 42}');
    await page.getByLabel('Failure response sample').fill('{"error": "no such item"}');
    await page.getByRole('button', { name: 'Add error code' }).click();
    await page.getByLabel('Error code 1 code').fill('404');
    await page.getByRole('button', { name: 'Create API' }).click();
    await page.locator('[data-field="error_code #1.message"] ~ .field-error').getByText('required but missing').waitFor();
    await page.getByRole('alert').getByText('The gateway refused the API').waitFor();
    await screenshot('step4-server-error');
    await page.getByLabel('Error code 1 message').fill('no such item');
    await page.getByRole('button', { name: 'Create API' }).click();
    await page.getByRole('heading', { level: 1, name: 'shop' }).waitFor();
    const apiRow = page.getByRole('row', { name: /get-item/ });
    await apiRow.getByText('/items/{id}').waitFor();
    await apiRow.getByText('default/echo:$LATEST').waitFor();

    // --- Publish to release.
    const publish = async (description, expectedRelease) => {
      await page.getByLabel('Release description for release').fill(description);
      await page.getByRole('button', { name: 'Publish to release' }).click();
      await page.locator('tr[data-stage="release"] .serving').getByText(`release #${expectedRelease} since`).waitFor();
      await page.locator(`tr[data-release="${expectedRelease}"]`).getByText(description).waitFor();
    };
    await publish('first version', 1);
    await screenshot('published');
    // No stray "null"/"undefined" where a part of the page had nothing to show.
    const pageText = await page.locator('main').innerText();
    assert.doesNotMatch(pageText, /\b(null|undefined)\b/, 'the service page shows a missing value as text');

    // --- The test panel: the echo function's event, pretty-printed.
    await page.getByRole('link', { name: 'Test API get-item' }).click();
    await page.getByRole('heading', { level: 1, name: 'Test get-item' }).waitFor();
    assert.equal(await page.getByLabel('Path').inputValue(), '/items/42');
    await page.getByLabel('Headers').fill('X-Demo: console');
    await page.getByRole('button', { name: 'Send request' }).click();
    await page.locator('[data-testid="status"]').getByText('200').waitFor();
    const event = JSON.parse(await page.locator('[data-testid="event"]').textContent());
    assert.equal(event.httpMethod, 'GET');
    assert.equal(event.pathParameters.id, '42');
    assert.equal(event.headers['x-demo'], 'console');
    assert.equal(event.requestContext.serviceId, serviceId);
    assert.equal(event.requestContext.stage, 'release');
    await screenshot('test-panel');

    // --- The same API from outside, through the data plane.
    const direct = await callApi(gateway.data, '/release/items/42');
    assert.equal(direct.status, 200, direct.text);
    assert.equal(direct.json.pathParameters.id, '42');

    // --- Edit the path, publish again: the new path is served, the old one is gone.
    await page.getByRole('link', { name: 'shop' }).click();
    await page.getByRole('link', { name: 'Edit API get-item' }).click();
    await page.getByRole('heading', { level: 1, name: 'Edit API get-item' }).waitFor();
    await page.getByRole('button', { name: 'Next' }).click();
    assert.equal(await page.getByLabel('Path').inputValue(), '/items/{id}');
    await page.getByLabel('Path').fill('/products/{id}');
    await page.getByRole('button', { name: 'Next' }).click();
    await page.getByRole('heading', { name: 'Step 3 of 4: SCF backend' }).waitFor();
    assert.equal(await page.getByLabel('Function name').first().inputValue(), 'echo');
    await page.getByRole('button', { name: 'Next' }).click();
    assert.equal(await page.getByLabel('Error code 1 message').inputValue(), 'no such item');
    // Error-code conversion (Tencent's "needs conversion" / "converted code"): off until ticked,
    // and a code no HTTP response can carry is refused at its input.
    await page.getByRole('button', { name: 'Add error code' }).click();
    await page.getByLabel('Error code 2 code').fill('503');
    await page.getByLabel('Error code 2 message').fill('store closed');
    assert.equal(await page.getByLabel('Error code 2 converted code').isDisabled(), true);
    await page.getByLabel('Error code 2 needs conversion').check();
    await page.getByLabel('Error code 2 converted code').fill('1000');
    await page.getByRole('button', { name: 'Save API' }).click();
    await page.locator('[data-field="error_code #2.converted_code"] ~ .field-error').getByText(/^1000 is not an HTTP status/).waitFor();
    await page.getByLabel('Error code 2 converted code').fill('502');
    await page.getByRole('button', { name: 'Save API' }).click();
    await page.getByRole('row', { name: /get-item/ }).getByText('/products/{id}').waitFor();
    const saved = await page.evaluate(async ([token, id]) => {
      const answer = await fetch(`/v1/services/${id}/apis/get-item`, { headers: { Authorization: `Bearer ${token}` } });
      return answer.json();
    }, [TOKEN, serviceId]);
    assert.deepEqual(
      saved.error_code.map(({ code, converted_code }) => [code, converted_code]),
      [[404, undefined], [503, 502]],
    );
    await publish('products path', 2);
    assert.equal((await callApi(gateway.data, '/release/products/7')).json?.pathParameters?.id, '7');
    assert.equal((await callApi(gateway.data, '/release/items/7')).status, 404);

    // --- Roll back from the release history: Escape cancels, Enter confirms.
    const rollback = page.getByRole('button', { name: 'Roll back release to #1' });
    await rollback.click();
    const confirm = page.getByRole('dialog', { name: 'Roll back' });
    await confirm.getByText('release serves release #2; serve release #1 (first version) instead?').waitFor();
    await page.keyboard.press('Escape');
    await confirm.waitFor({ state: 'hidden' });
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Roll back release to #1');
    assert.match(await page.locator('tr[data-stage="release"] .serving').textContent(), /release #2 since/);
    await page.keyboard.press('Enter');
    await confirm.waitFor();
    await screenshot('rollback-confirm');
    await page.keyboard.press('Enter');
    await page.locator('tr[data-stage="release"] .serving').getByText('release #1 since').waitFor();
    const back = await callApi(gateway.data, '/release/items/42');
    assert.equal(back.status, 200, back.text);
    assert.equal(back.json.pathParameters.id, '42');
    assert.equal((await callApi(gateway.data, '/release/products/42')).status, 404);
    // The draft keeps the edit: a rollback changes what a stage serves, not the draft.
    await page.getByRole('row', { name: /get-item/ }).getByText('/products/{id}').waitFor();
    await screenshot('rolled-back');
    if (process.env.CONSOLE_SCREENSHOT) copyFileSync(path.join(shots, `${String(shot).padStart(2, '0')}-rolled-back.png`), path.resolve(repo, process.env.CONSOLE_SCREENSHOT));

    // --- Service settings, keyboard first: a variable without a name is caught before saving,
    // a host with a port is refused by the admin API, both next to their inputs.
    await page.getByRole('link', { name: 'Service settings' }).click();
    await page.getByRole('heading', { level: 1, name: 'Settings of shop' }).waitFor();
    await page.getByRole('button', { name: 'Add variable to release' }).press('Enter');
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('aria-label')), 'release variable 1 name');
    await page.keyboard.press('Tab');
    await page.keyboard.type('hello from release');
    await page.keyboard.press('Enter');
    await page.locator('[data-field="stage_variables.release #1.name"] ~ .field-error').getByText('required: a variable needs a name').waitFor();
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('aria-label')), 'release variable 1 name');
    await page.keyboard.type('greeting');
    await page.getByLabel('Custom domains (hosts)').fill('shop.example.com:8080');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await page.locator('[data-field="hosts"] ~ .field-error').getByText('a port is not allowed').waitFor();
    await screenshot('settings-errors');
    await page.getByLabel('Custom domains (hosts)').fill('');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await page.getByRole('heading', { level: 1, name: 'shop' }).waitFor();

    // --- Published, the variable is in the event the function receives.
    await publish('stage variables', 3);
    await page.getByRole('link', { name: 'Test API get-item' }).click();
    await page.getByRole('heading', { level: 1, name: 'Test get-item' }).waitFor();
    await page.getByRole('button', { name: 'Send request' }).click();
    await page.locator('[data-testid="status"]').getByText('200').waitFor();
    const variablesEvent = JSON.parse(await page.locator('[data-testid="event"]').textContent());
    assert.deepEqual(variablesEvent.stageVariables, { greeting: 'hello from release' });
    await screenshot('stage-variables-event');

    // --- OpenAPI import from a local file: the GET is imported, the PATCH is reported.
    await page.getByRole('navigation', { name: 'Breadcrumb' }).getByRole('link', { name: 'shop' }).click();
    await page.getByRole('heading', { level: 1, name: 'shop' }).waitFor();
    await page.getByText('Import APIs from OpenAPI').click();
    await page.getByRole('button', { name: 'Import', exact: true }).click();
    await page.locator('[data-field="document"] ~ .field-error').getByText('required: paste a document or choose a file').waitFor();
    const petsYaml = [
      'openapi: 3.0.0',
      'info: {title: pets, version: "1"}',
      'paths:',
      '  /pets:',
      '    get:',
      '      operationId: list-pets',
      '      description: Every pet',
      '      responses: {"200": {description: the pets}}',
      '  /pets/{id}:',
      '    patch:',
      '      operationId: update-pet',
      '      parameters: [{name: id, in: path, required: true, schema: {type: integer}}]',
      '      responses: {"200": {description: updated}}',
      '',
    ].join('\n');
    await page.getByLabel('Or choose a file').setInputFiles({ name: 'pets.yaml', mimeType: 'application/yaml', buffer: Buffer.from(petsYaml) });
    await page.getByText('Read pets.yaml').waitFor();
    assert.equal(await page.getByLabel('OpenAPI document').inputValue(), petsYaml);
    await page.getByLabel('Backend function').selectOption('default/echo:$LATEST');
    await page.getByRole('button', { name: 'Import', exact: true }).click();
    const report = page.locator('[data-testid="import-report"]');
    await report.getByRole('heading', { name: 'Imported (1)', exact: true }).waitFor();
    await report.getByRole('listitem').getByText('list-pets', { exact: true }).waitFor();
    await report.getByRole('row', { name: /PATCH \/pets\/\{id\}/ }).getByText('method PATCH is not one an API can have').waitFor();
    await page.getByRole('row', { name: /list-pets/ }).getByText('/pets', { exact: true }).waitFor();
    await screenshot('openapi-import');
    await publish('pets imported', 4);

    // --- The generated docs, fetched with the token, in a sandboxed frame.
    await page.getByRole('link', { name: 'View documentation (release)' }).click();
    await page.getByRole('heading', { level: 1, name: 'Documentation of shop (release)' }).waitFor();
    const docsFrame = page.locator('iframe[title="API documentation of shop on release"]');
    assert.equal(await docsFrame.getAttribute('sandbox'), '');
    const docs = page.frameLocator('iframe[title="API documentation of shop on release"]');
    await docs.getByRole('heading', { name: 'list-pets' }).waitFor();
    await docs.locator('.endpoint code').getByText('/pets', { exact: true }).waitFor();
    await docs.locator('.endpoint code').getByText('/products/{id}', { exact: true }).waitFor();
    // Its inline stylesheet applies: the console's policy admits it by hash.
    assert.equal(await docs.locator('body').evaluate((body) => getComputedStyle(body).maxWidth), '960px');
    await screenshot('docs');

    // --- A key pair: its SecretKey is shown once, then never again (not even after a reload).
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Key pairs' }).click();
    await page.getByRole('heading', { level: 1, name: 'Key pairs' }).waitFor();
    await page.getByRole('button', { name: 'Create key pair' }).click();
    await page.getByRole('heading', { name: /^Key pair AKID\w+ created$/ }).waitFor();
    await page.getByText('Copy the SecretKey now: it is shown only this once.').waitFor();
    const secretId = await page.locator('[data-testid="created-secret-id"]').inputValue();
    const secretKey = await page.locator('[data-testid="created-secret-key"]').inputValue();
    assert.match(secretId, /^AKID[A-Za-z0-9]{32}$/);
    assert.match(secretKey, /^[A-Za-z0-9]{32}$/);
    // Everything a user can see or copy on the page: its text and its inputs' values.
    const visibleText = () => page.evaluate(() => [document.body.innerText, ...[...document.querySelectorAll('input, textarea')].map((input) => input.value)].join('\n'));
    assert.ok((await visibleText()).includes(secretKey));
    await screenshot('key-pair-created');
    await page.reload();
    await page.getByRole('heading', { level: 1, name: 'Key pairs' }).waitFor();
    await page.getByRole('row', { name: new RegExp(secretId) }).getByText('stored; never shown again').waitFor();
    assert.ok(!(await visibleText()).includes(secretKey), 'the SecretKey is shown after a reload');
    assert.doesNotMatch(await page.locator('main').innerText(), /\b(null|undefined)\b/, 'the key pairs page shows a missing value as text');

    // --- A usage plan with that key on the service's release stage; a quota of 0 is refused inline.
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Usage plans' }).click();
    await page.getByText('No usage plans yet.').waitFor();
    await page.getByRole('link', { name: 'Create usage plan' }).click();
    await page.getByRole('heading', { level: 1, name: 'Create usage plan' }).waitFor();
    await page.getByLabel('Usage plan name').fill('gold');
    await page.getByLabel('Max requests per second').fill('10');
    await page.getByLabel('Quota per day').fill('0');
    await page.getByLabel('shop / release').check();
    await page.getByLabel(secretId).check();
    await page.getByRole('button', { name: 'Create usage plan' }).click();
    await page.locator('[data-field="quota_per_day"] ~ .field-error').getByText('must be at least 1').waitFor();
    await page.getByLabel('Quota per day').fill('1000');
    await page.getByRole('button', { name: 'Create usage plan' }).click();
    const planRow = page.getByRole('row', { name: /gold/ });
    await planRow.getByText('shop / release').waitFor();
    await planRow.getByText(secretId).waitFor();
    assert.deepEqual(await planRow.getByRole('cell').allTextContents(), ['gold', '10', '1000', 'shop / release', secretId, 'EditDelete']);
    await screenshot('usage-plan');

    assert.deepEqual(foreign, [], 'the console fetched from elsewhere');
    assert.deepEqual(pageErrors, [], 'the page logged errors');
  } catch (error) {
    await page.screenshot({ path: path.join(shots, 'failure.png'), fullPage: true }).catch(() => {});
    t.diagnostic(`gateway output:\n${gateway.output()}`);
    throw error;
  }
  // The screenshots stay in their temp folder (printed above) to look at; the state goes.
  rmSync(path.join(scratch, 'state'), { recursive: true, force: true });
});
