// scfgate's runtime for Tencent SCF's Node.js runtimes (Nodejs10.15 and later).
//
// The gateway starts it in the function's code folder with the custom-runtime API's address in
// SCF_RUNTIME_API / SCF_RUNTIME_API_PORT and the handler (`file.function`) in _HANDLER. It loads
// the handler's file once (its top-level code runs then; an ES module through import()), tells
// the API it is ready, then for each event calls handler(event, context, callback) as SCF does:
// an async handler's value (or rejection), or what it passes to the callback, is the answer.
// The answer is posted as JSON, or an error in SCF's shape; stacks go to stderr, which the
// gateway logs with the function and the request id.
'use strict';

const http = require('http');
const fs = require('fs');
const path = require('path');
const url = require('url');

const host = process.env.SCF_RUNTIME_API || '127.0.0.1';
const port = Number(process.env.SCF_RUNTIME_API_PORT || 9001);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

// The request being run: each line written meanwhile goes out as "\x1f<id>\x1f<line>", so the
// gateway logs it with its request id however late it reads it.
let current = null;
for (const stream of [process.stdout, process.stderr]) {
  const write = stream.write.bind(stream);
  let partial = '';
  const emit = (line) => write((current ? `\x1f${current}\x1f` : '') + line + '\n');
  stream.write = (chunk, encoding, callback) => {
    partial += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    let newline;
    while ((newline = partial.indexOf('\n')) >= 0) {
      emit(partial.slice(0, newline));
      partial = partial.slice(newline + 1);
    }
    if (typeof encoding === 'function') encoding();
    else if (typeof callback === 'function') callback();
    return true;
  };
  stream.flushPartial = () => {
    if (partial) {
      emit(partial);
      partial = '';
    }
  };
}

// One request to the runtime API. `thenNext`: post a response or error and get the next event in
// the same exchange (scfgate's runtime API answers X-Scfgate-Next with it).
function call(method, route, body, thenNext) {
  return new Promise((resolve, reject) => {
    const headers = body === undefined ? {} : { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) };
    if (thenNext) headers['X-Scfgate-Next'] = '1';
    const request = http.request({ host, port, method, path: route, agent, headers }, (response) => {
      const chunks = [];
      response.on('data', (chunk) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode, headers: response.headers, body: Buffer.concat(chunks) }));
      response.on('error', reject);
    });
    request.on('error', reject);
    request.end(body);
  });
}

function errorBody(message, statusCode, stack) {
  const body = { errorCode: -1, errorMessage: message, statusCode };
  if (stack) body.stackTrace = stack;
  return JSON.stringify(body);
}

async function loadHandler() {
  const code = process.cwd();
  const name = process.env._HANDLER || 'index.main_handler';
  const dot = name.lastIndexOf('.');
  if (dot <= 0 || dot === name.length - 1) return { error: errorBody(`handler \`${name}\` is not \`file.function\``, 437) };
  const file = name.slice(0, dot);
  const entry = name.slice(dot + 1);
  const found = ['.js', '.cjs', '.mjs'].map((extension) => path.join(code, file + extension)).find((candidate) => fs.existsSync(candidate));
  if (!found) return { error: errorBody(`handler \`${name}\` not found: no ${file}.js in the code folder`, 437) };
  let loaded;
  try {
    try {
      loaded = require(found);
    } catch (error) {
      if (error && error.code === 'ERR_REQUIRE_ESM') loaded = await import(url.pathToFileURL(found).href);
      else throw error;
    }
  } catch (error) {
    const stack = (error && error.stack) || String(error);
    process.stderr.write(stack + '\n');
    return { error: errorBody(`function initialization failed: ${(error && error.message) || error}`, 445, stack) };
  }
  const handler = loaded && (loaded[entry] || (loaded.default && loaded.default[entry]));
  if (typeof handler !== 'function') return { error: errorBody(`handler \`${name}\` not found: ${path.basename(found)} exports no function \`${entry}\``, 437) };
  return { handler };
}

// The context's `environment` (JSON) and `environ` (K=V;K=V): made once, the environment does
// not change between events.
let environmentTexts = null;
function environmentOnce() {
  if (!environmentTexts) {
    const environment = Object.assign({}, process.env);
    for (const name of ['SCF_RUNTIME_API', 'SCF_RUNTIME_API_PORT', '_HANDLER']) delete environment[name];
    environmentTexts = {
      json: JSON.stringify(environment),
      pairs: Object.keys(environment).sort().map((key) => `${key}=${environment[key]}`).join(';'),
    };
  }
  return environmentTexts;
}

function contextFor(headers) {
  const environment = environmentOnce();
  const timeLimit = Number(headers.time_limit_in_ms || 0);
  const deadline = Date.now() + timeLimit;
  return {
    request_id: headers.request_id || '',
    memory_limit_in_mb: Number(headers.memory_limit_in_mb || process.env.SCF_FUNCTIONMEMORYSIZE || 0),
    time_limit_in_ms: timeLimit,
    function_name: process.env.SCF_FUNCTIONNAME || '',
    function_version: process.env.SCF_FUNCTIONVERSION || '',
    namespace: process.env.SCF_NAMESPACE || '',
    tencentcloud_region: process.env.TENCENTCLOUD_REGION || '',
    tencentcloud_appid: process.env.TENCENTCLOUD_APPID || '',
    tencentcloud_uin: process.env.TENCENTCLOUD_UIN || '',
    environment: environment.json,
    environ: environment.pairs,
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
}

// The handler's answer: its promise, or its callback, or (a plain function of two arguments
// that returns) its value.
function invoke(handler, event, context) {
  return new Promise((resolve, reject) => {
    let settled = false;
    const callback = (error, value) => {
      if (settled) return;
      settled = true;
      if (error) reject(error);
      else resolve(value);
    };
    let result;
    try {
      result = handler(event, context, callback);
    } catch (error) {
      callback(error);
      return;
    }
    if (result && typeof result.then === 'function') result.then((value) => callback(null, value), (error) => callback(error || new Error('the handler\'s promise was rejected')));
    else if (handler.length < 3) callback(null, result);
  });
}

// (route, body) of the answer to one event.
async function answer(next, handler, initError) {
  if (initError) return ['/runtime/invocation/error', initError];
  current = next.headers.request_id || null;
  let value;
  try {
    const event = next.body.length ? JSON.parse(next.body.toString('utf8')) : {};
    value = await invoke(handler, event, contextFor(next.headers));
  } catch (error) {
    const stack = (error && error.stack) || String(error);
    process.stderr.write(stack + '\n');
    return ['/runtime/invocation/error', errorBody((error && error.message) || String(error), 430, stack)];
  }
  try {
    return ['/runtime/invocation/response', JSON.stringify(value === undefined ? null : value)];
  } catch (error) {
    const message = `the function's return value is not JSON: ${error.message}`;
    process.stderr.write(message + '\n');
    return ['/runtime/invocation/error', errorBody(message, 443)];
  }
}

async function main() {
  const { handler, error: initError } = await loadHandler();
  await call('POST', '/runtime/init/ready', '');
  let next = await call('GET', '/runtime/invocation/next');
  for (;;) {
    if (next.status !== 200) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      next = await call('GET', '/runtime/invocation/next');
      continue;
    }
    const [route, body] = await answer(next, handler, initError);
    process.stdout.flushPartial();
    process.stderr.flushPartial();
    current = null;
    // The answer, and the next event back in the same exchange.
    next = await call('POST', route, body, true);
  }
}

main().catch((error) => {
  process.stderr.write(`scfgate node runtime: ${(error && error.stack) || error}\n`);
  process.exit(1);
});
