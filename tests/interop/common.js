// Helpers shared by the interop drivers: a quiet logger for the SDK, bounded waits, raw HTTP to
// the server, and starting a naming-server on a free port.
'use strict';

const { spawn } = require('child_process');
const http = require('http');
const readline = require('readline');

const verbose = !!process.env.INTEROP_VERBOSE;

// The SDK logs a lot at info level; only its errors (and warnings with INTEROP_VERBOSE) matter here.
const quietLogger = {
  info() {}, debug() {},
  warn(...args) { if (verbose) console.error(...args); },
  error(...args) { console.error(...args); },
};

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Polls `predicate` (sync or async) every `pollMs` until it returns something truthy, which is
// returned; throws after `timeoutMs`.
async function waitFor(what, predicate, timeoutMs, pollMs = 20) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await predicate();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(pollMs);
  }
}

// One HTTP request to 127.0.0.1:port; resolves with { status, body }.
function request(port, method, urlPath) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: urlPath }, (res) => {
      let body = '';
      res.on('data', (chunk) => { body += chunk; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

// Starts `binary --port 0 ...extraArgs` and resolves with { server, port } once it has printed its
// one "listening" line.
function startServer(binary, extraArgs = []) {
  return new Promise((resolve, reject) => {
    const server = spawn(binary, ['--port', '0', ...extraArgs], { stdio: ['ignore', 'pipe', 'inherit'] });
    const timer = setTimeout(() => reject(new Error('naming-server did not start')), 10000);
    server.on('error', reject);
    readline.createInterface({ input: server.stdout }).once('line', (line) => {
      clearTimeout(timer);
      const match = /^naming-server listening on http:\/\/127\.0\.0\.1:(\d+)$/.exec(line);
      if (!match) reject(new Error(`unexpected first line: ${line}`));
      else resolve({ server, port: Number(match[1]) });
    });
  });
}

module.exports = { verbose, quietLogger, sleep, waitFor, request, startServer };
