// The test panel of one API (#/services/<id>/apis/<name>/test): a request sent through the
// gateway by the admin API (a browser on the console's origin cannot reach the data plane), its
// response, and for the example's `echo` function the event the function received. A key-pair API
// is signed here with the user's key pair, as policy/key_pair.rs verifies it (Tencent's HMAC:
// `lowercase-name: value` lines of the signed headers joined by \n, HMAC with the SecretKey,
// base64), in the page with WebCrypto: the SecretKey never leaves the browser. An OAuth API takes
// a pasted token. Every request is also shown as a curl command, signed headers included.

import { call, segment } from './api.js';
import { functionKey } from './checks.js';
import { recentSecretKey } from './plans.js';
import { busy, clearFieldErrors, field, h, showError, showFieldError, table, toast, withoutBlanks } from './ui.js';

const STAGES = ['release', 'test', 'prepub'];
const ALGORITHMS = { 'hmac-sha1': 'SHA-1', 'hmac-sha256': 'SHA-256', 'hmac-sha384': 'SHA-384', 'hmac-sha512': 'SHA-512' };

/** The API's path with each `{param}` replaced by its sample or default (else `1`). */
function samplePath(api) {
  const path = String(api.path ?? '/').replace(/^(=|\^~)/, '');
  return path.replace(/\{([^{}]*)\}/g, (_, name) => {
    const param = (api.param ?? []).find((candidate) => candidate.position === 'path' && candidate.name === name);
    return encodeURIComponent(param?.sample ?? param?.default ?? '1');
  });
}

/** `Name: value` lines as an object; throws on a line without a colon. */
function parseHeaderLines(text) {
  const headers = {};
  for (const [index, line] of text.split('\n').entries()) {
    if (!line.trim()) continue;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new Error(`line ${index + 1} is not "Name: value"`);
    headers[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
  }
  return headers;
}

/**
 * The stage the panel starts on: the one published last (the user has most likely just
 * published there), else `release` when it is allowed, else the first.
 */
export function defaultStage(serving, stages) {
  const newest = Object.entries(serving ?? {}).sort(([, a], [, b]) => (b.since ?? 0) - (a.since ?? 0) || (b.release_id ?? 0) - (a.release_id ?? 0))[0];
  if (newest && stages.includes(newest[0])) return newest[0];
  return stages.includes('release') ? 'release' : stages[0];
}

/** The base64 HMAC of `text` with `key`, as the gateway computes it. */
async function hmacBase64(algorithm, key, text) {
  const encoder = new TextEncoder();
  const cryptoKey = await crypto.subtle.importKey('raw', encoder.encode(key), { name: 'HMAC', hash: ALGORITHMS[algorithm] }, false, ['sign']);
  const mac = new Uint8Array(await crypto.subtle.sign('HMAC', cryptoKey, encoder.encode(text)));
  return btoa(String.fromCharCode(...mac));
}

/**
 * Adds Tencent's key-pair signature to `headers` (in place): `X-Date` now, `Source`, and an
 * `Authorization: hmac id=..., algorithm=..., headers="x-date source", signature=...`.
 */
export async function signKeyPair(headers, { secretId, secretKey, algorithm }) {
  headers['X-Date'] = new Date().toUTCString();
  headers.Source = headers.Source ?? 'scfgate-console';
  const names = ['x-date', 'source'];
  const signing = names.map((name) => `${name}: ${headers[Object.keys(headers).find((key) => key.toLowerCase() === name)]}`).join('\n');
  const signature = await hmacBase64(algorithm, secretKey, signing);
  headers.Authorization = `hmac id="${secretId}", algorithm="${algorithm}", headers="${names.join(' ')}", signature="${signature}"`;
}

/** `text` quoted for a POSIX shell. */
const shellQuote = (text) => `'${String(text).replace(/'/g, `'\\''`)}'`;

/** The request as a curl command against the data plane. */
export function curlCommand({ method, url, headers, body }) {
  const parts = ['curl', '-i'];
  if (method !== 'GET') parts.push('-X', method);
  parts.push(shellQuote(url));
  for (const [name, value] of Object.entries(headers)) parts.push('-H', shellQuote(`${name}: ${value}`));
  if (body) parts.push('--data-raw', shellQuote(body));
  return parts.join(' ');
}

/** Where an OAuth token goes, from the API's `token_location` (`header:Name`, `cookie:name`). */
function placeToken(headers, location, token) {
  const [kind, name] = String(location || 'header:Authorization').split(':');
  if (kind === 'cookie') headers.Cookie = [headers.Cookie, `${name}=${token}`].filter(Boolean).join('; ');
  else headers[name || 'Authorization'] = name && name.toLowerCase() !== 'authorization' ? token : `Bearer ${token}`;
}

/** The signing inputs of a key-pair API; `read()` gives them, or null with an error shown. */
function keyPairInputs(secrets, plans, serviceId, stageSelect) {
  const secretId = h('select', {}, secrets.length ? secrets.map((secret) => h('option', { value: secret.id }, secret.id)) : h('option', { value: '' }, 'no key pairs yet'));
  const secretKey = h('input', { type: 'password', autocomplete: 'off', class: 'mono', spellcheck: 'false' });
  const algorithm = h('select', {}, Object.keys(ALGORITHMS).map((name) => h('option', { value: name }, name)));
  const binding = h('p', { class: 'hint', 'aria-live': 'polite' });
  const update = () => {
    const remembered = recentSecretKey(secretId.value);
    if (remembered && !secretKey.value) secretKey.value = remembered;
    const holding = plans.filter((plan) => (plan.secret_ids ?? []).includes(secretId.value));
    const bound = holding.filter((plan) => (plan.environments ?? []).some((env) => env.service === serviceId && env.stage === stageSelect.value));
    binding.textContent = !secretId.value
      ? 'Create a key pair on the Key pairs page, and bind it to this stage with a usage plan.'
      : bound.length
        ? `Usage plan ${bound.map((plan) => plan.name).join(', ')} lets this key call ${stageSelect.value}.`
        : `No usage plan binds this key to ${stageSelect.value}: the gateway will answer 403 until one does.`;
  };
  secretId.addEventListener('change', update);
  stageSelect.addEventListener('change', update);
  update();
  const group = h(
    'fieldset',
    { class: 'nested' },
    h('legend', {}, 'Sign with a key pair'),
    h(
      'div',
      { class: 'row' },
      field('Key pair (SecretId)', secretId, { fieldName: 'secret_id' }),
      field('SecretKey', secretKey, { fieldName: 'secret_key', hint: 'Shown once when the key pair was created. It stays in this page: only the signature is sent.' }),
      field('Algorithm', algorithm, { fieldName: 'algorithm' }),
    ),
    binding,
  );
  const read = (form) => {
    if (!secretId.value) {
      showFieldError(form, 'secret_id', 'required: create a key pair first (Key pairs page)');
      return null;
    }
    if (!secretKey.value) {
      showFieldError(form, 'secret_key', 'required: paste the SecretKey of this key pair to sign');
      secretKey.focus();
      return null;
    }
    return { secretId: secretId.value, secretKey: secretKey.value, algorithm: algorithm.value };
  };
  return { group, read };
}

/** The test panel of API `name` in service `id`. */
export async function testView(id, name) {
  const base = `/v1/services/${segment(id)}`;
  const [service, api, gateway] = await Promise.all([call('GET', base), call('GET', `${base}/apis/${segment(name)}`), call('GET', '/v1/gateway')]);
  const [secrets, plans] = api.auth === 'key_pair' ? await Promise.all([call('GET', '/v1/secrets?limit=100'), call('GET', '/v1/usage-plans?limit=100')]) : [null, null];
  const serving = Object.keys(service.serving ?? {});
  const stages = serving.length ? serving : service.stages?.length ? service.stages : STAGES;
  const initial = defaultStage(service.serving, stages);
  const page = h('section', { class: 'page' });

  const stage = h('select', {}, stages.map((value) => h('option', { value, selected: value === initial }, value)));
  const methods = api.method && api.method !== 'ANY' ? [api.method] : ['GET', 'POST', 'PUT', 'DELETE', 'HEAD'];
  const method = h('select', {}, [...new Set([...methods, 'GET', 'POST', 'PUT', 'DELETE', 'HEAD'])].map((value) => h('option', { value }, value)));
  const path = h('input', { value: samplePath(api), autocomplete: 'off', class: 'mono' });
  const query = h('input', { autocomplete: 'off', class: 'mono', placeholder: 'name=value&other=value' });
  const headers = h('textarea', { rows: 3, class: 'mono', placeholder: 'X-Demo: 1' });
  const body = h('textarea', { rows: 4, class: 'mono' });
  const target = h('p', { class: 'mono muted target', 'aria-live': 'off' });
  const requestPath = () => `/${stage.value}${path.value.startsWith('/') ? '' : '/'}${path.value}${query.value ? `?${query.value.replace(/^\?/, '')}` : ''}`;
  const showTarget = () => {
    target.textContent = `${method.value} ${requestPath()}`;
  };
  for (const control of [stage, method, path, query]) control.addEventListener('input', showTarget);
  showTarget();

  const keyPair = api.auth === 'key_pair' ? keyPairInputs(secrets.secrets, plans.usage_plans, id, stage) : null;
  const token = api.auth === 'oauth' ? h('textarea', { rows: 3, class: 'mono', spellcheck: 'false' }) : null;
  const tokenPlace = api.oauth?.token_location || 'header:Authorization';
  const authPart = keyPair
    ? keyPair.group
    : token
      ? h('fieldset', { class: 'nested' }, h('legend', {}, 'OAuth 2.0'), field('OAuth token (id_token)', token, { fieldName: 'token', hint: `Sent as ${tokenPlace.startsWith('cookie:') ? `cookie ${tokenPlace.slice(7)}` : `${tokenPlace.slice(7) || 'Authorization'}: Bearer <token>`}.` }))
      : null;

  const result = h('section', { class: 'result', 'aria-live': 'polite', 'aria-labelledby': 'result-title' });
  const form = h(
    'form',
    { class: 'card', novalidate: true },
    h(
      'div',
      { class: 'row' },
      field('Stage', stage, { fieldName: 'stage', hint: serving.length ? '' : 'Not published yet: publish the service first.' }),
      field('Method', method, { fieldName: 'method' }),
      field('Path', path, { fieldName: 'path', hint: 'After the stage; the path parameters are filled with their samples.' }),
    ),
    field('Query string', query, { fieldName: 'query' }),
    field('Headers', headers, { fieldName: 'headers', hint: 'One "Name: value" per line.' }),
    field('Body', body, { fieldName: 'body' }),
    authPart,
    target,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Send request')),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearFieldErrors(form);
    let headerObject;
    try {
      headerObject = parseHeaderLines(headers.value);
    } catch (error) {
      showFieldError(form, 'headers', error.message);
      headers.focus();
      return;
    }
    if (keyPair) {
      const signing = keyPair.read(form);
      if (!signing) return;
      await signKeyPair(headerObject, signing);
    }
    if (token?.value.trim()) placeToken(headerObject, tokenPlace, token.value.trim());
    const request = withoutBlanks({ method: method.value, path: requestPath(), headers: headerObject, body: body.value, host: service.hosts?.[0] });
    const curlHeaders = service.hosts?.[0] ? { Host: service.hosts[0], ...headerObject } : headerObject;
    const address = gateway.listen?.[0]?.replace(/^0\.0\.0\.0:/, '127.0.0.1:').replace(/^\[::\]:/, '[::1]:');
    const curl = address ? curlCommand({ method: method.value, url: `http://${address}${request.path}`, headers: curlHeaders, body: body.value }) : null;
    await busy(form.querySelector('[type=submit]'), async () => {
      try {
        showResult(result, await call('POST', '/v1/test-request', request), curl);
      } catch (error) {
        showError(form, error);
      }
    });
  });

  page.append(
    h('nav', { class: 'breadcrumb', 'aria-label': 'Breadcrumb' }, h('a', { href: '#/services' }, 'Services'), ' / ', h('a', { href: `#/services/${segment(id)}` }, service.name), ' / ', h('span', { 'aria-current': 'page' }, `Test ${api.name}`)),
    h('div', { class: 'page-head' }, h('h1', { tabindex: -1 }, `Test ${api.name}`), h('p', { class: 'muted' }, `${api.method} ${api.path} → ${api.function ? functionKey(api.function) : 'WebSocket functions'}. The request goes through the gateway, as a client's would.`)),
    form,
    result,
  );
  return page;
}

/** The event the function received, when the answer is one (the `echo` function's is). */
function eventIn(text) {
  try {
    const value = JSON.parse(text);
    return value && typeof value === 'object' && 'requestContext' in value && 'httpMethod' in value ? value : null;
  } catch {
    return null;
  }
}

function showResult(container, answer, curl) {
  const event = eventIn(answer.body);
  const headerRows = Object.entries(answer.headers ?? {}).map(([name, value]) => h('tr', {}, h('th', { scope: 'row', class: 'mono' }, name), h('td', { class: 'mono' }, value)));
  let curlPart = [];
  if (curl) {
    const command = h('textarea', { readonly: true, rows: 3, class: 'mono curl', spellcheck: 'false', id: 'curl-command', value: curl });
    const copy = h('button', { type: 'button' }, 'Copy curl command');
    copy.addEventListener('click', async () => {
      command.select();
      try {
        await navigator.clipboard.writeText(command.value);
        toast('curl command copied.');
      } catch {
        toast('The browser refused to copy: the command is selected, press Ctrl+C.');
      }
    });
    curlPart = [h('div', { class: 'field' }, h('label', { for: 'curl-command' }, 'The same request with curl'), command, h('p', { class: 'hint' }, 'A signature is valid for 15 minutes (its X-Date).')), h('div', { class: 'actions' }, copy)];
  }
  container.replaceChildren(
    h('h2', { id: 'result-title' }, 'Response'),
    h('p', {}, 'Status ', h('strong', { class: answer.status < 400 ? 'status ok' : 'status bad', dataset: { testid: 'status' } }, String(answer.status))),
    ...curlPart,
    h('details', {}, h('summary', {}, `Headers (${headerRows.length})`), table('Response headers', ['Name', 'Value'], headerRows, 'No headers.')),
    h('h3', {}, 'Body'),
    h('pre', { class: 'code', dataset: { testid: 'body' }, tabindex: 0 }, answer.body || '(empty)'),
    ...(event ? [h('h3', {}, 'Event the function received'), h('pre', { class: 'code', dataset: { testid: 'event' }, tabindex: 0 }, JSON.stringify(event, null, 2))] : []),
  );
}
