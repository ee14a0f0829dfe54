// What the console's end-to-end tests share: where the binaries are, and the real gateway with
// the admin API and the example `echo` function, started on free ports in a scratch folder.
//
// Overrides: SCFGATE_BIN, SCF_EXAMPLE_FUNCTION (an scf-example-function binary: its folder goes
// first on the gateway's PATH, which functions get), CHROMIUM (default /usr/bin/chromium),
// CARGO_TARGET_DIR. CONSOLE_FROM_SOURCE=1 serves the console's files from src/admin/console
// instead of the binary's copy (with the binary's headers), to try a change without a rebuild;
// a run that counts uses the binary's own files.

import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const targetDir = path.resolve(repo, process.env.CARGO_TARGET_DIR ?? 'target');
export const gatewayBin = process.env.SCFGATE_BIN ?? path.join(targetDir, 'debug/scfgate');
export const functionBin = process.env.SCF_EXAMPLE_FUNCTION ?? path.join(targetDir, 'debug/scf-example-function');
export const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';
// Generous: waits end as soon as the condition holds; this bounds a broken run only.
export const WAIT = 30_000;

/** Starts scfgate with the admin API (token `token`) and an `echo` function; resolves to its addresses. */
export async function startGateway(scratch, token) {
  const config = path.join(scratch, 'scfgate.toml');
  writeFileSync(
    config,
    [
      '# The console e2e test: services and APIs come from the console.',
      '[[function]]',
      'name = "echo"',
      'runtime = "custom"',
      `code = ${JSON.stringify(path.join(repo, 'examples/hello/functions/echo'))}`,
      'instances = 1',
      '',
    ].join('\n'),
  );
  const child = spawn(
    gatewayBin,
    ['--config', config, '--listen', '127.0.0.1:0', '--workers', '1', '--admin-listen', '127.0.0.1:0', '--state-dir', path.join(scratch, 'state')],
    { env: { ...process.env, SCFGATE_ADMIN_TOKEN: token, PATH: `${path.dirname(functionBin)}${path.delimiter}${process.env.PATH ?? ''}`, SCFGATE_LOG: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const addresses = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`scfgate did not start within ${WAIT} ms:\n${output}`)), WAIT);
    const look = (chunk) => {
      output += chunk;
      const data = /scfgate listening on http:\/\/(\S+)/.exec(output);
      const admin = /scfgate admin API listening on http:\/\/(\S+)/.exec(output);
      if (data && admin) {
        clearTimeout(timer);
        resolve({ data: data[1], admin: admin[1] });
      }
    };
    child.stdout.on('data', look);
    child.stderr.on('data', look);
    child.on('exit', (code) => reject(new Error(`scfgate exited (${code}) before listening:\n${output}`)));
  });
  return { child, ...addresses, output: () => output };
}

/** GET on the data plane, as any client would call the published API. */
export async function callApi(address, pathAndQuery) {
  const response = await fetch(`http://${address}${pathAndQuery}`);
  const text = await response.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = null;
  }
  return { status: response.status, text, json };
}

/** With CONSOLE_FROM_SOURCE=1, the browser `context` gets the console's files from the source tree. */
export async function consoleFromSource(context) {
  if (process.env.CONSOLE_FROM_SOURCE !== '1') return;
  await context.route(/\/console\/[^/?#]+\.(js|css)$/, async (route) => {
    const response = await route.fetch();
    const file = path.join(repo, 'src/admin/console', new URL(route.request().url()).pathname.slice('/console/'.length));
    const type = file.endsWith('.css') ? 'text/css; charset=utf-8' : 'text/javascript; charset=utf-8';
    await route.fulfill({ response, status: 200, headers: { ...response.headers(), 'content-type': type }, body: readFileSync(file) });
  });
}
