// The console's client-side checks (src/admin/console/checks.js), run under node: the three
// mistakes the wizard catches before saving, how admin API error fields find their input, and
// the service settings' and usage plans' input parsing.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

// The console's modules are browser ES modules in a folder without a package.json; node 18 would
// load a `.js` there as CommonJS, so the module is imported from its source instead.
const checksSource = readFileSync(new URL('../../src/admin/console/checks.js', import.meta.url), 'utf8');
const { checkBackend, checkFrontend, checkStageVariables, fieldByPlace, messageForField, parseHosts, parseLimit, pathPlaceholders, stageVariablesPayload, stepOfField } = await import(
  `data:text/javascript;base64,${Buffer.from(checksSource).toString('base64')}`
);

const echo = { name: 'echo', runtime: 'custom' };

test('a name over 60 characters is refused with its length; 60 is fine', () => {
  const long = checkFrontend({ name: 'a'.repeat(61), path: '/x' });
  assert.deepEqual(long, [{ field: 'name', message: '61 characters long; at most 60 are allowed' }]);
  assert.deepEqual(checkFrontend({ name: 'a'.repeat(60), path: '/x' }), []);
  // Characters, not bytes or UTF-16 units: 60 Chinese characters are allowed.
  assert.deepEqual(checkFrontend({ name: '接'.repeat(60), path: '/x' }), []);
});

test('a {param} of the path must be declared as a path parameter', () => {
  assert.deepEqual(pathPlaceholders('/users/{id}/posts/{post}'), ['id', 'post']);
  const undeclared = checkFrontend({ name: 'u', path: '/users/{id}', param: [{ name: 'id', position: 'query' }] });
  assert.equal(undeclared.length, 1);
  assert.equal(undeclared[0].field, 'path');
  assert.match(undeclared[0].message, /\{id\} is in the path but not declared/);
  assert.deepEqual(checkFrontend({ name: 'u', path: '/users/{id}', param: [{ name: 'id', position: 'path' }] }), []);
});

test('a path must start with a slash and a parameter needs a name', () => {
  assert.deepEqual(checkFrontend({ name: 'u', path: 'users' }).map((problem) => problem.field), ['path']);
  assert.deepEqual(checkFrontend({ name: 'u', path: '=/exact' }), []);
  assert.deepEqual(checkFrontend({ name: 'u', path: '/u', param: [{ position: 'query' }] }).map((problem) => problem.field), ['param #1.name']);
});

test('the backend function must be in the function list, with its namespace and qualifier', () => {
  assert.deepEqual(checkBackend({ function: { name: 'echo' } }, [echo]), []);
  const missing = checkBackend({ function: { name: 'nosuch' } }, [echo]);
  assert.deepEqual(missing, [{ field: 'function', message: 'default/nosuch:$LATEST is not in the function list; pick one from the list or create it first' }]);
  assert.equal(checkBackend({ function: { name: 'echo', qualifier: '2' } }, [echo]).length, 1);
  assert.equal(checkBackend({ function: {} }, [echo])[0].message, 'required: pick a function from the list (or create one)');
  // WebSocket APIs name their transport function (register and cleanup are optional here).
  assert.deepEqual(checkBackend({ protocol: 'ws', transport: { name: 'echo' } }, [echo]), []);
});

test('admin API error fields lead to their step and input', () => {
  assert.equal(stepOfField('name'), 2);
  assert.equal(stepOfField('param.id.name'), 2);
  assert.equal(stepOfField('function'), 3);
  assert.equal(stepOfField('error_code.404.message'), 4);
  const api = { param: [{ name: 'q' }, { name: 'id' }], error_code: [{ code: 404 }] };
  assert.equal(fieldByPlace('param.id.position', api), 'param #2.position');
  assert.equal(fieldByPlace('error_code.404.message', api), 'error_code #1.message');
  assert.equal(fieldByPlace('path', api), 'path');
  assert.equal(messageForField('service `shop` api `item`: field `error_code.404.message`: required but missing'), 'required but missing');
});

test('stage variables: a value needs a name, a name appears once per stage, blank rows are ignored', () => {
  const rows = {
    release: [{ name: 'greeting', value: 'hi' }, { name: '', value: '' }, { name: '', value: 'orphan' }, { name: ' greeting ', value: 'again' }],
    test: [{ name: 'greeting', value: 'test hi' }],
  };
  assert.deepEqual(checkStageVariables(rows), [
    { field: 'stage_variables.release #3.name', message: 'required: a variable needs a name' },
    { field: 'stage_variables.release #4.name', message: 'greeting is already set on release; a name may appear once per stage' },
  ]);
  assert.deepEqual(checkStageVariables({ release: [{ name: 'a', value: '' }], test: [{ name: 'a', value: '' }] }), []);
});

test('stage variables are sent as the admin API names them: by stage, blank rows and empty stages dropped', () => {
  const rows = { release: [{ name: ' greeting ', value: 'hi' }, { name: '', value: '' }], test: [], prepub: [{ name: '', value: '' }] };
  assert.deepEqual(stageVariablesPayload(rows), { release: { greeting: 'hi' } });
  // An empty value is a value.
  assert.deepEqual(stageVariablesPayload({ test: [{ name: 'flag', value: '' }] }), { test: { flag: '' } });
});

test('hosts are read one per line or comma-separated', () => {
  assert.deepEqual(parseHosts('api.example.com\n  shop.example.com, www.example.com\n\n'), ['api.example.com', 'shop.example.com', 'www.example.com']);
  assert.deepEqual(parseHosts('  '), []);
});

test('usage-plan limits: blank is no limit, a whole number is a limit, anything else is refused', () => {
  assert.equal(parseLimit(''), undefined);
  assert.equal(parseLimit(' 100 '), 100);
  // 0 is passed on: the admin API's own message says why it is refused.
  assert.equal(parseLimit('0'), 0);
  for (const bad of ['1.5', '-3', '1e3', 'ten']) assert.ok(Number.isNaN(parseLimit(bad)), bad);
});

test('a name another API of the service has is refused on step 2; an edited API keeps its own', () => {
  assert.deepEqual(checkFrontend({ name: 'orders', path: '/o' }, { takenNames: ['orders'] }), [
    { field: 'name', message: 'the service already has an API named orders; choose another name' },
  ]);
  assert.deepEqual(checkFrontend({ name: 'orders', path: '/o' }, { takenNames: ['stock'] }), []);
});

test('every error of a field is reported: a path without its slash and with an undeclared param', () => {
  const problems = checkFrontend({ name: 'u', path: 'items/{sku}' });
  assert.deepEqual(problems.map((problem) => problem.field), ['path', 'path']);
  assert.match(problems[0].message, /^must start with \//);
  assert.match(problems[1].message, /\{sku\} is in the path but not declared/);
});

test('admin API messages lose their config-file prefix and backticks', () => {
  assert.equal(messageForField('scfgate.toml: service `shop` api `a`: field `path`: must start with `/`'), 'must start with “/”');
  assert.equal(messageForField('service `service-1` already has an api named `orders`'), 'service “service-1” already has an api named “orders”');
});

const diffSource = readFileSync(new URL('../../src/admin/console/diff.js', import.meta.url), 'utf8');
const { diffLines, draftDiff, isUnchanged } = await import(`data:text/javascript;base64,${Buffer.from(diffSource).toString('base64')}`);

test('the draft against what a stage serves: added, changed (by field), removed, settings', () => {
  const served = { api: [{ name: 'a', path: '/a', method: 'GET' }, { name: 'gone', path: '/g' }], stage_variables: { release: { x: '1' } } };
  const draft = [
    { name: 'a', path: '/a2', method: 'GET', version: 3, created_at: 1, updated_at: 2 },
    { name: 'new', path: '/n' },
  ];
  const diff = draftDiff({ stage_variables: { release: { x: '2' } } }, draft, served, 'release');
  assert.deepEqual(diffLines(diff), ['added new', 'changed a: path', 'removed gone', 'changed release variables']);
  // Bookkeeping fields and key order are not changes.
  const same = draftDiff({}, [{ method: 'GET', name: 'a', path: '/a', version: 9 }], { api: [{ name: 'a', path: '/a', method: 'GET' }] }, 'test');
  assert.ok(isUnchanged(same));
});
