// k6 script for the bundled example's echo-event API (POST /release/echo, pass-through: the echo
// function returns the SCF event it received). Not run by this repository's scripts: k6 has no
// trusted package on the machines we test on (see loadtest/README.md). With k6 installed:
//
//   target/release/scfgate --config examples/hello/scfgate.toml &
//   k6 run loadtest/k6-echo.js                               # 500 req/s for 30 s
//   k6 run -e BASE_URL=http://127.0.0.1:8080 -e RATE=2000 -e DURATION=60s loadtest/k6-echo.js
//
// Open model (constant-arrival-rate), so latency percentiles are free of coordinated omission.

import http from 'k6/http';
import { check } from 'k6';

const BASE_URL = __ENV.BASE_URL || 'http://127.0.0.1:8080';

export const options = {
  scenarios: {
    echo_event: {
      executor: 'constant-arrival-rate',
      rate: Number(__ENV.RATE || 500),
      timeUnit: '1s',
      duration: __ENV.DURATION || '30s',
      preAllocatedVUs: Number(__ENV.VUS || 50),
      maxVUs: Number(__ENV.MAX_VUS || 500),
    },
  },
  thresholds: {
    checks: ['rate==1.0'],
    http_req_failed: ['rate==0'],
    http_req_duration: ['p(99)<50'],
  },
  summaryTrendStats: ['avg', 'med', 'p(90)', 'p(99)', 'p(99.9)', 'max'],
};

export default function () {
  const order = { order: { id: __ITER, items: [{ sku: 'A-1', qty: 2 }, { sku: 'B-7', qty: 1 }] }, note: 'load test' };
  const payload = JSON.stringify(order);
  const response = http.post(`${BASE_URL}/release/echo?source=k6&vu=${__VU}`, payload, {
    headers: { 'Content-Type': 'application/json' },
    tags: { name: 'POST /release/echo' },
  });
  check(response, {
    'status is 200': (r) => r.status === 200,
    'event carries the body': (r) => {
      const event = r.json();
      return event.body === payload && event.httpMethod === 'POST' && event.isBase64Encoded === false;
    },
    'event carries the query': (r) => r.json().queryString.source === 'k6',
    'event has the stage': (r) => r.json().requestContext.stage === 'release',
  });
}
