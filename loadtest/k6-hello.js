// k6 script for the bundled example's say-hello API (GET /release/hello/{name}, integrated
// response). Not run by this repository's scripts: k6 has no trusted package on the machines we
// test on (see loadtest/README.md). With k6 installed from https://k6.io:
//
//   target/release/scfgate --config examples/hello/scfgate.toml &
//   k6 run loadtest/k6-hello.js                              # 500 req/s for 30 s
//   k6 run -e BASE_URL=http://127.0.0.1:8080 -e RATE=2000 -e DURATION=60s loadtest/k6-hello.js
//
// It uses an open model (constant-arrival-rate): requests start on schedule whether or not earlier
// ones have finished, so latency percentiles are free of coordinated omission, unlike wrk's.

import http from 'k6/http';
import { check } from 'k6';

const BASE_URL = __ENV.BASE_URL || 'http://127.0.0.1:8080';
const NAMES = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi'];

export const options = {
  scenarios: {
    say_hello: {
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
  const name = NAMES[Math.floor(Math.random() * NAMES.length)];
  const response = http.get(`${BASE_URL}/release/hello/${name}`, { tags: { name: 'GET /release/hello/{name}' } });
  check(response, {
    'status is 200': (r) => r.status === 200,
    'greets by name': (r) => r.body === `Hello, ${name}!\n`,
    'has x-api-requestid': (r) => (r.headers['X-Api-Requestid'] || '').length > 0,
  });
}
