// The admin API client: every call goes through `call`, which adds the admin token (kept in
// sessionStorage for this tab only), asks the user for it when the API answers 401, and turns
// error bodies (`{"error": {"code", "message", "field"}}`) into ApiError.

import { messageForField } from './checks.js';

const TOKEN_KEY = 'scfgate-admin-token';

/**
 * A failed admin call, with the admin API's code and the field at fault (if any). Its message is
 * for people: the config file's prefix and backticks are gone (`raw` keeps the API's text).
 */
export class ApiError extends Error {
  constructor(status, body) {
    const error = body?.error ?? {};
    super(messageForField(error.message) || `the admin API answered ${status}`);
    this.raw = error.message;
    this.status = status;
    this.code = error.code;
    this.field = error.field;
    this.location = error.location;
  }
}

let promptForToken = async () => null;
// Several calls may be refused at once: they share one prompt.
let pendingPrompt = null;

/** How the console asks for the token: `(message) => Promise<string | null>`. */
export function setTokenPrompt(prompt) {
  promptForToken = prompt;
}

async function askOnce(message) {
  if (!pendingPrompt) {
    pendingPrompt = promptForToken(message).finally(() => {
      pendingPrompt = null;
    });
  }
  return pendingPrompt;
}

/** Sends one request and returns the fetch Response; a 401 asks for the token and retries. */
export async function send(method, path, { body, ifMatch, raw } = {}) {
  for (;;) {
    const token = sessionStorage.getItem(TOKEN_KEY);
    const headers = {};
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers['Content-Type'] = raw ? 'text/plain' : 'application/json';
    if (ifMatch !== undefined) headers['If-Match'] = String(ifMatch);
    const payload = body === undefined ? undefined : raw ? body : JSON.stringify(body);
    const response = await fetch(path, { method, headers, body: payload, cache: 'no-store' });
    if (response.status !== 401) return response;
    const entered = await askOnce(token ? 'That token was refused. Enter the admin token again.' : 'The admin API needs its token.');
    if (!entered) throw new ApiError(401, await response.json().catch(() => null));
    sessionStorage.setItem(TOKEN_KEY, entered.trim());
  }
}

/** One JSON call; resolves to the answer's JSON, rejects with ApiError. */
export async function call(method, path, body, options = {}) {
  const response = await send(method, path, { ...options, body });
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!response.ok) throw new ApiError(response.status, json);
  return json;
}

/** Saves what `path` answers as a file (the token rules out a plain link). */
export async function download(path, filename) {
  const response = await send('GET', path);
  if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement('a');
  link.href = url;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

/** `encodeURIComponent` for one path segment. */
export const segment = (text) => encodeURIComponent(text);
