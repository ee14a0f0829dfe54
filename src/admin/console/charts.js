// The monitoring page's two charts, drawn as SVG built element by element (the page's policy
// admits no chart library, and no markup is ever parsed): requests per minute as stacked bars
// (answered without error, 4xx, 5xx) and latency as p50 and p99 lines. Colours come from
// style.css classes, so the charts follow the console's look and need no inline style. Each bar
// and point carries a <title> (the browser's own tooltip) and each chart an aria-label that sums it up.

const SVG = 'http://www.w3.org/2000/svg';
const WIDTH = 560;
const HEIGHT = 196;
const MARGIN = { top: 18, right: 12, bottom: 26, left: 48 };
const PLOT_WIDTH = WIDTH - MARGIN.left - MARGIN.right;
const PLOT_HEIGHT = HEIGHT - MARGIN.top - MARGIN.bottom;
const HOUR = 3600;
const MINUTE = 60;
// Between two minutes' bars, so neighbours read as bars and not as one block.
const BAR_GAP = 1;
// The minute in progress may have begun a second ago; it still shows.
const MIN_BAR_WIDTH = 2;

function svg(tag, attributes = {}, ...children) {
  const element = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value !== undefined && value !== null) element.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

const pad = (number) => String(number).padStart(2, '0');

/** Local HH:MM of Unix seconds. */
export const clock = (seconds) => {
  const date = new Date(seconds * 1000);
  return `${pad(date.getHours())}:${pad(date.getMinutes())}`;
};

/** Local HH:MM:SS of Unix seconds. */
export const clockWithSeconds = (seconds) => `${clock(seconds)}:${pad(new Date(seconds * 1000).getSeconds())}`;

/** Milliseconds with the precision a reader can use: 0.35 ms, 4.2 ms, 120 ms. */
export function formatMs(ms) {
  if (ms === null || ms === undefined) return '–';
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  return `${Math.round(ms).toLocaleString()} ms`;
}

/** The smallest 1, 2 or 5 × 10^n at or above `value`, so the top gridline is a round number. */
function niceCeiling(value) {
  if (!(value > 0)) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 5, 10].map((factor) => factor * magnitude).find((candidate) => candidate >= value * (1 - 1e-9));
}

/** Gridline values from 0 to a round top, a round step apart; whole numbers for request counts. */
function valueTicks(max, integers) {
  const top = niceCeiling(integers ? Math.max(1, Math.ceil(max)) : max);
  const factor = Math.round(top / 10 ** Math.floor(Math.log10(top)));
  let count = factor === 2 ? 4 : 5;
  if (integers) count = Math.min(count, top);
  return Array.from({ length: count + 1 }, (_, index) => (top * index) / count);
}

/** A gridline's value without float noise (0.6000000001 is 0.6). */
const tickLabel = (value) => String(Number(value.toPrecision(4)));

/** Local times on round 10 minutes (15 minutes would skip whole labels in odd time zones). */
function timeTicks(start, end) {
  const first = new Date(start * 1000);
  first.setSeconds(0, 0);
  first.setMinutes(Math.ceil(first.getMinutes() / 10) * 10);
  const ticks = [];
  for (let at = first.getTime() / 1000; at <= end; at += 600) ticks.push(at);
  return ticks;
}

/** The frame both charts share: the plot area, gridlines and labelled axes over the hour to `end`. */
function frame({ end, ticks, formatValue, label, className, summary }) {
  const start = end - HOUR;
  const x = (at) => MARGIN.left + ((at - start) / HOUR) * PLOT_WIDTH;
  const top = ticks[ticks.length - 1];
  const y = (value) => MARGIN.top + PLOT_HEIGHT - (Math.min(value, top) / top) * PLOT_HEIGHT;
  const root = svg('svg', { class: `chart ${className}`, viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: 'img', 'aria-label': summary });
  const grid = svg('g', { class: 'grid', 'aria-hidden': 'true' });
  for (const value of ticks) {
    grid.append(
      svg('line', { x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: y(value), y2: y(value), class: value === 0 ? 'axis' : 'gridline' }),
      svg('text', { x: MARGIN.left - 6, y: y(value), class: 'value-label', 'text-anchor': 'end', 'dominant-baseline': 'middle' }, formatValue(value)),
    );
  }
  for (const at of timeTicks(start, end)) {
    grid.append(
      svg('line', { x1: x(at), x2: x(at), y1: MARGIN.top, y2: MARGIN.top + PLOT_HEIGHT, class: 'gridline' }),
      svg('text', { x: x(at), y: HEIGHT - 8, class: 'time-label', 'text-anchor': 'middle' }, clock(at)),
    );
  }
  grid.append(svg('text', { x: MARGIN.left, y: MARGIN.top - 2, class: 'unit-label' }, label));
  root.append(grid);
  return { root, x, y, start };
}

/**
 * Requests per minute over the hour ending at `end` (the report's newest point), stacked:
 * answered without error at the bottom, then 4xx, then 5xx. Minutes, not the history's 10-second
 * steps: 360 bars in a chart this wide would be a pixel each, too thin to see or point at. Minutes
 * follow the clock (a bar keeps its height from one refresh to the next); the one in progress is
 * drawn up to `end`. Minutes without requests draw nothing.
 */
export function requestsChart(points, { end, summary }) {
  const minutes = new Map();
  for (const point of points) {
    // A point closes its step at `at`: it belongs to the minute its last second is in.
    const minute = Math.floor((point.at - 1) / MINUTE) * MINUTE;
    const sums = minutes.get(minute) ?? { requests: 0, client_errors: 0, server_errors: 0 };
    for (const key of Object.keys(sums)) sums[key] += point[key];
    minutes.set(minute, sums);
  }
  const max = Math.max(0, ...[...minutes.values()].map((sums) => sums.requests));
  const ticks = valueTicks(max, true);
  const { root, x, y, start } = frame({ end, ticks, formatValue: (value) => value.toLocaleString(), label: 'requests per minute', className: 'requests-chart', summary });
  const bars = svg('g', { class: 'bars' });
  for (const [minute, sums] of minutes) {
    if (sums.requests === 0 || minute + MINUTE <= start) continue;
    const left = x(Math.max(minute, start)) + BAR_GAP / 2;
    const width = Math.max(MIN_BAR_WIDTH, x(Math.min(minute + MINUTE, end)) - left - BAR_GAP / 2);
    const fine = sums.requests - sums.client_errors - sums.server_errors;
    const bar = svg('g', { class: 'minute', 'data-at': minute, 'data-requests': sums.requests });
    const noun = sums.requests === 1 ? 'request' : 'requests';
    bar.append(svg('title', {}, `${clock(minute)}–${clock(minute + MINUTE)}: ${sums.requests} ${noun}, ${sums.client_errors} 4xx, ${sums.server_errors} 5xx`));
    let below = 0;
    for (const [count, kind] of [
      [fine, 'fine'],
      [sums.client_errors, 'client-error'],
      [sums.server_errors, 'server-error'],
    ]) {
      if (count <= 0) continue;
      const bottom = y(below);
      const topEdge = y(below + count);
      bar.append(svg('rect', { class: `bar ${kind}`, x: left, y: topEdge, width, height: Math.max(0.5, bottom - topEdge) }));
      below += count;
    }
    bars.append(bar);
  }
  root.append(bars);
  return root;
}

/** p50 and p99 latency per step over the hour to `end`; a step without requests breaks the lines. */
export function latencyChart(points, { end, summary }) {
  const max = Math.max(0, ...points.flatMap((point) => [point.p50_ms ?? 0, point.p99_ms ?? 0]));
  const ticks = valueTicks(max, false);
  const { root, x, y, start } = frame({ end, ticks, formatValue: tickLabel, label: 'milliseconds', className: 'latency-chart', summary });
  const shown = points.filter((point) => point.at > start);
  for (const [key, kind] of [
    ['p99_ms', 'p99'],
    ['p50_ms', 'p50'],
  ]) {
    let path = '';
    let drawing = false;
    const markers = svg('g', { class: `markers ${kind}` });
    for (const point of shown) {
      const value = point[key];
      if (value === null || value === undefined) {
        drawing = false;
        continue;
      }
      path += `${drawing ? 'L' : 'M'}${x(point.at).toFixed(1)},${y(value).toFixed(1)}`;
      drawing = true;
      markers.append(svg('circle', { class: `marker ${kind}`, cx: x(point.at), cy: y(value), r: 2.5 }, svg('title', {}, `${clockWithSeconds(point.at)}: ${kind} ${formatMs(value)}`)));
    }
    if (path) root.append(svg('path', { class: `line ${kind}`, d: path }));
    root.append(markers);
  }
  return root;
}
