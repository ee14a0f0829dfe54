// k6 script for the bundled example's key-pair API (GET /release/signed/{name}, auth = "key_pair"),
// every request signed as Tencent documents (X-Date, Source, and an `Authorization: hmac ...`
// header whose signature is base64 HMAC-SHA1 of "x-date: <X-Date>\nsource: <Source>" with the
// SecretKey). Unlike wrk's script, it signs each request. Not run by this repository's scripts
// (see loadtest/README.md). With k6 installed from https://k6.io:
//
//   target/release/scfgate --config examples/hello/scfgate.toml &
//   k6 run loadtest/k6-signed.js                             # 500 req/s for 30 s
//   k6 run -e SECRET_ID=AKIDyours -e SECRET_KEY=yourkey -e RATE=2000 loadtest/k6-signed.js
//
// The key defaults to the example's demo pair (examples/hello/scfgate.toml).

import http from 'k6/http';
import { check } from 'k6';
import crypto from 'k6/crypto';

const BASE_URL = __ENV.BASE_URL || 'http://127.0.0.1:8080';
const SECRET_ID = __ENV.SECRET_ID || 'AKIDexample';
const SECRET_KEY = __ENV.SECRET_KEY || 'example-secret-key-do-not-use';
const SOURCE = 'k6';
const NAMES = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi'];

export const options = {
  scenarios: {
    signed_hello: {
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

function signedHeaders() {
  const date = new Date().toUTCString(); // "Wed, 25 Nov 2026 22:50:00 GMT"
  const signature = crypto.hmac('sha1', SECRET_KEY, `x-date: ${date}\nsource: ${SOURCE}`, 'base64');
  return {
    'X-Date': date,
    Source: SOURCE,
    Authorization: `hmac id="${SECRET_ID}", algorithm="hmac-sha1", headers="x-date source", signature="${signature}"`,
  };
}

export default function () {
  const name = NAMES[Math.floor(Math.random() * NAMES.length)];
  const response = http.get(`${BASE_URL}/release/signed/${name}`, {
    headers: signedHeaders(),
    tags: { name: 'GET /release/signed/{name}' },
  });
  check(response, {
    'status is 200 (not 401: signature accepted)': (r) => r.status === 200,
    'greets by name': (r) => r.body === `Hello, ${name}!\n`,
  });
}
