// The monitoring page: the last hour of each API's traffic (requests, 4xx and 5xx, p50 and p99
// latency, per 10-second step) and the local functions' instances, from the gateway's own
// sampled history (GET /v1/metrics/history), so it works without Prometheus. The page refetches
// every 10 s while shown; the filters (service, stage) only redraw what was fetched, and live in
// the hash so a filtered view can be bookmarked.

import { ApiError, call } from './api.js';
import { clockWithSeconds, formatMs, latencyChart, requestsChart } from './charts.js';
import { describe, errorBanner, field, h, onLeave, table } from './ui.js';

const STAGES = ['release', 'test', 'prepub'];
const REFRESH_MS = 10_000;
const UNMATCHED_LABEL = 'Requests that matched no API';

// The history's own label for requests no API answered: no service, stage or API.
const isUnmatched = (entry) => entry.service === '' && entry.api === '';

/** `#/monitoring?service=...&stage=...`: the page with its filters. */
export async function monitoringView(query) {
  // Names for the service ids the history reports; a service beyond the first 100, or deleted
  // since its traffic, shows by id.
  const [initial, services] = await Promise.all([call('GET', '/v1/metrics/history'), call('GET', '/v1/services?limit=100')]);
  const names = new Map(services.services.map((service) => [service.id, service.name]));
  const filter = { service: query.get('service') ?? '', stage: query.get('stage') ?? '' };
  let report = initial;

  const serviceSelect = h('select', {}, h('option', { value: '' }, 'All services'));
  const stageSelect = h('select', {}, h('option', { value: '' }, 'All stages'), STAGES.map((stage) => h('option', { value: stage }, stage)));
  const addServiceOptions = () => {
    const known = new Set([...serviceSelect.options].map((option) => option.value));
    const ids = [...names.keys(), ...report.apis.filter((entry) => !isUnmatched(entry)).map((entry) => entry.service), filter.service].filter(Boolean);
    for (const id of [...new Set(ids)].filter((candidate) => !known.has(candidate)).sort((a, b) => serviceName(names, a).localeCompare(serviceName(names, b)))) {
      serviceSelect.append(h('option', { value: id }, names.has(id) ? `${names.get(id)} (${id})` : id));
    }
  };
  addServiceOptions();
  serviceSelect.value = filter.service;
  stageSelect.value = STAGES.includes(filter.stage) ? filter.stage : '';
  filter.stage = stageSelect.value;

  const updated = h('p', { class: 'muted updated', 'aria-live': 'off' });
  const results = h('div', { class: 'monitoring-results' });
  const render = () => {
    results.replaceChildren(...reportView(report, filter, names));
    updated.textContent = `Updated ${clockWithSeconds(Date.now() / 1000)} · refreshed every ${REFRESH_MS / 1000} s while this page is open.`;
  };
  const onFilter = () => {
    filter.service = serviceSelect.value;
    filter.stage = stageSelect.value;
    const params = new URLSearchParams(Object.entries(filter).filter(([, value]) => value));
    // No hashchange: the page stays, with its focus and its timer; only the view is redrawn.
    history.replaceState(null, '', `#/monitoring${params.toString() ? `?${params}` : ''}`);
    render();
  };
  serviceSelect.addEventListener('change', onFilter);
  stageSelect.addEventListener('change', onFilter);

  const page = h(
    'section',
    { class: 'page monitoring' },
    h(
      'div',
      { class: 'page-head' },
      h('h1', { tabindex: -1 }, 'Monitoring'),
      h('p', { class: 'muted' }, `Each API's last hour: requests and errors per minute, p50 and p99 latency per ${initial.step_seconds}-second step. And the local functions' instances now.`),
    ),
    h('form', { class: 'filters row', 'aria-label': 'Filters' }, field('Service', serviceSelect), field('Stage', stageSelect)),
    updated,
    results,
  );
  render();
  keepRefreshing(page, async () => {
    report = await call('GET', '/v1/metrics/history');
    addServiceOptions();
    render();
  });
  return page;
}

/**
 * Runs `update` every REFRESH_MS while `page` is shown: stopped when the view is left (or, should
 * that be missed, once the page is out of the document), skipped while the tab is hidden, one
 * request at a time. A failed refresh keeps the last figures under an error banner; a refused
 * token stops it (the token prompt must not come back every 10 s).
 */
function keepRefreshing(page, update) {
  let timer = null;
  let stopped = false;
  const stop = () => {
    stopped = true;
    clearTimeout(timer);
  };
  const tick = async () => {
    if (stopped) return;
    if (!page.isConnected) return stop();
    if (!document.hidden) {
      try {
        await update();
        page.querySelector(':scope > .banner.error')?.remove();
      } catch (error) {
        if (stopped) return;
        const unauthorized = error instanceof ApiError && error.status === 401;
        errorBanner(page, unauthorized ? `${describe(error)} The page stopped refreshing; reload it to resume.` : `The figures could not be refreshed: ${describe(error)}`);
        if (unauthorized) return stop();
      }
    }
    if (!stopped) timer = setTimeout(tick, REFRESH_MS);
  };
  timer = setTimeout(tick, REFRESH_MS);
  onLeave(stop);
}

const serviceName = (names, id) => names.get(id) ?? id;

/** An API's one-line identity, for headings and labels. */
function describeEntry(entry, names) {
  if (isUnmatched(entry)) return UNMATCHED_LABEL;
  return `${entry.method} ${entry.api} · ${serviceName(names, entry.service)} · ${entry.stage}`;
}

/** The entries the filters let through, in a stable order (refreshes must not reshuffle them). */
function visibleEntries(report, filter, names) {
  const shown = report.apis.filter((entry) =>
    isUnmatched(entry) ? !filter.service && !filter.stage : (!filter.service || entry.service === filter.service) && (!filter.stage || entry.stage === filter.stage),
  );
  const key = (entry) => [isUnmatched(entry) ? 1 : 0, serviceName(names, entry.service), STAGES.indexOf(entry.stage), entry.api, entry.method];
  return shown.sort((a, b) => {
    const [left, right] = [key(a), key(b)];
    for (let index = 0; index < left.length; index += 1) {
      if (left[index] < right[index]) return -1;
      if (left[index] > right[index]) return 1;
    }
    return 0;
  });
}

/** Sums over the hour; latency cannot be merged from per-step quantiles, so the worst step's p99. */
function totals(points) {
  const sum = (key) => points.reduce((total, point) => total + point[key], 0);
  const requests = sum('requests');
  const clientErrors = sum('client_errors');
  const serverErrors = sum('server_errors');
  const p99s = points.map((point) => point.p99_ms).filter((value) => value !== null && value !== undefined);
  return { requests, clientErrors, serverErrors, errorRate: requests ? (clientErrors + serverErrors) / requests : null, peakP99: p99s.length ? Math.max(...p99s) : null };
}

const percent = (rate) => (rate === null ? '–' : `${(rate * 100).toFixed(rate > 0 && rate < 0.001 ? 2 : 1)}%`);

function reportView(report, filter, names) {
  const entries = visibleEntries(report, filter, names);
  // Every chart ends at the gateway's "now" (the step in progress ends there), not the browser's.
  const end = Math.max(...report.apis.flatMap((entry) => entry.points.map((point) => point.at)), 0) || Math.floor(Date.now() / 1000);
  const filtered = filter.service || filter.stage;
  const parts = [h('h2', {}, 'Traffic in the last hour')];
  if (entries.length === 0) {
    parts.push(h('p', { class: 'empty' }, filtered && report.apis.length ? 'No requests in the last hour for this service and stage.' : 'No requests in the last hour.'));
  } else {
    const rows = entries.map((entry) => {
      const sums = totals(entry.points);
      return h(
        'tr',
        {},
        h('th', { scope: 'row' }, isUnmatched(entry) ? h('span', { class: 'muted' }, UNMATCHED_LABEL) : entry.api),
        h('td', {}, isUnmatched(entry) ? '' : serviceName(names, entry.service)),
        h('td', {}, entry.stage),
        h('td', {}, entry.method ? h('span', { class: 'badge' }, entry.method) : ''),
        h('td', { class: 'number', dataset: { total: 'requests' } }, sums.requests.toLocaleString()),
        h('td', { class: 'number', dataset: { total: '4xx' } }, sums.clientErrors.toLocaleString()),
        h('td', { class: 'number', dataset: { total: '5xx' } }, sums.serverErrors.toLocaleString()),
        h('td', { class: `number${sums.errorRate ? ' bad' : ''}`, dataset: { total: 'error-rate' } }, percent(sums.errorRate)),
        h('td', { class: 'number' }, formatMs(sums.peakP99)),
      );
    });
    parts.push(
      table('Traffic per API in the last hour', ['API', 'Service', 'Stage', 'Method', 'Requests', '4xx', '5xx', 'Error rate', 'Peak p99'], rows, ''),
      h('div', { class: 'api-monitors' }, entries.map((entry) => apiMonitor(entry, names, end, report.step_seconds))),
    );
  }
  const functionRows = report.functions.map((fn) =>
    h(
      'tr',
      { dataset: { function: fn.function } },
      h('th', { scope: 'row', class: 'mono' }, fn.function),
      h('td', {}, fn.kind),
      h('td', { class: 'number' }, String(fn.starting)),
      h('td', { class: 'number' }, String(fn.idle)),
      h('td', { class: 'number' }, String(fn.busy)),
      h('td', { class: 'number' }, String(fn.starts)),
      h('td', { class: `number${fn.crashes ? ' bad' : ''}` }, String(fn.crashes)),
    ),
  );
  parts.push(
    h('h2', {}, 'Instances of local functions'),
    table('Instances of local functions', ['Function', 'Kind', 'Starting', 'Idle', 'Busy', 'Starts', 'Crashes'], functionRows, 'No local functions run in this gateway.'),
  );
  return parts;
}

let monitorIds = 0;

/** One API's card: its totals and its two charts. */
function apiMonitor(entry, names, end, stepSeconds) {
  const sums = totals(entry.points);
  const headingId = `api-monitor-${++monitorIds}`;
  const heading = isUnmatched(entry)
    ? h('h3', { id: headingId }, UNMATCHED_LABEL)
    : h('h3', { id: headingId }, h('span', { class: 'badge' }, entry.method), ' ', entry.api, h('span', { class: 'muted' }, ` · ${serviceName(names, entry.service)} · ${entry.stage}`));
  const what = describeEntry(entry, names);
  const summary = `${sums.requests.toLocaleString()} ${sums.requests === 1 ? 'request' : 'requests'} · ${percent(sums.errorRate)} errors (${sums.clientErrors.toLocaleString()} 4xx, ${sums.serverErrors.toLocaleString()} 5xx) · peak p99 ${formatMs(sums.peakP99)}`;
  const legend = (items) => h('ul', { class: 'legend' }, items.map(([kind, label]) => h('li', {}, h('span', { class: `swatch ${kind}`, 'aria-hidden': 'true' }), label)));
  return h(
    'article',
    { class: 'card api-monitor', 'aria-labelledby': headingId },
    heading,
    h('p', { class: 'muted monitor-summary' }, summary, isUnmatched(entry) ? ' · unknown host, stage or path, or a method no API takes' : ''),
    h(
      'div',
      { class: 'chart-pair' },
      h(
        'figure',
        {},
        h('figcaption', {}, 'Requests', legend([['fine', 'answered'], ['client-error', '4xx'], ['server-error', '5xx']])),
        requestsChart(entry.points, {
          end,
          summary: `Requests of ${what} per minute over the last hour: ${sums.requests} in all, ${sums.clientErrors} 4xx, ${sums.serverErrors} 5xx.`,
        }),
      ),
      h(
        'figure',
        {},
        h('figcaption', {}, 'Latency', legend([['p50', 'p50'], ['p99', 'p99']])),
        latencyChart(entry.points, { end, summary: `p50 and p99 latency of ${what} per ${stepSeconds} s over the last hour; highest p99 ${formatMs(sums.peakP99)}.` }),
      ),
    ),
  );
}
