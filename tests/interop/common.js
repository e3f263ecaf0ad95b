// Helpers shared by the interop drivers: a quiet logger for the SDK, bounded waits, raw HTTP to
// the server, starting a naming-server on a free port, and driving a peer process over JSON lines.
'use strict';

const { spawn } = require('child_process');
const fs = require('fs');
const http = require('http');
const path = require('path');
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

// Resolves or rejects as `promise` does, or rejects after `timeoutMs`.
function within(what, promise, timeoutMs) {
  let timer;
  const timeout = new Promise((resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
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
// "listening" line, which comes first. With { grpc: true } it also waits for the later
// "naming-server grpc on HOST:PORT" line and adds grpcPort. Rejects, and kills the server, when the
// first line is unexpected or a line is missing after 10 s.
function startServer(binary, extraArgs = [], { grpc = false } = {}) {
  return new Promise((resolve, reject) => {
    const server = spawn(binary, ['--port', '0', ...extraArgs], { stdio: ['ignore', 'pipe', 'inherit'] });
    let settled = false;
    let port;
    const settle = () => {
      if (settled) return false;
      settled = true;
      clearTimeout(timer);
      return true;
    };
    const fail = (message) => {
      if (!settle()) return;
      server.kill('SIGKILL');
      reject(new Error(message));
    };
    const timer = setTimeout(() => fail(port === undefined ? 'naming-server did not start'
      : 'naming-server printed no "naming-server grpc on HOST:PORT" line within 10 s ' +
        '(built without the gRPC listener, or started with --no-grpc?)'), 10000);
    server.on('error', (err) => fail(err.message));
    server.on('exit', (code, signal) => fail(`naming-server exited (${code}, ${signal}) while starting`));
    // The reader stays attached so that later output never fills the pipe.
    readline.createInterface({ input: server.stdout }).on('line', (line) => {
      if (verbose) console.error(`server> ${line}`);
      if (settled) return;
      if (port === undefined) {
        const match = /^naming-server listening on http:\/\/127\.0\.0\.1:(\d+)$/.exec(line);
        if (!match) return fail(`unexpected first line: ${line}`);
        port = Number(match[1]);
        if (!grpc && settle()) resolve({ server, port });
        return;
      }
      const match = /^naming-server grpc on (?:[a-z]+:\/\/)?127\.0\.0\.1:(\d+)$/.exec(line);
      if (match) {
        if (settle()) resolve({ server, port, grpcPort: Number(match[1]) });
      } else if (line.startsWith('naming-server grpc on')) {
        fail(`the gRPC line names no loopback port: ${line}`);
      }
    });
  });
}

// A child process that speaks JSON lines: it prints {"event":"ready",...} once, then one reply
// {"seq":N,...} per command {"seq":N,"cmd":...} read from stdin, and {"event":...} lines in between,
// which are collected in `events`. Used for tests/interop/cpp_naming_peer and rust_naming_peer.js.
class JsonLinePeer {
  constructor(name, command, args, options = {}) {
    this.name = name;
    this.child = spawn(command, args, Object.assign({ stdio: ['pipe', 'pipe', 'inherit'] }, options));
    this.events = [];
    this.pending = new Map();
    this.seq = 0;
    this.exited = new Promise((resolve) => this.child.on('exit', (code, signal) => resolve({ code, signal })));
    this.ready = new Promise((resolve, reject) => {
      this.child.on('error', reject);
      this.exited.then(({ code, signal }) => {
        const err = new Error(`${name} exited (${code}, ${signal})`);
        reject(err);
        for (const fail of this.pending.values()) fail(err);
        this.pending.clear();
      });
      readline.createInterface({ input: this.child.stdout }).on('line', (line) => {
        if (verbose) console.error(`${name}> ${line}`);
        const msg = JSON.parse(line);
        if (msg.event === 'ready') resolve(msg);
        else if (msg.event === 'error') reject(new Error(`${name}: ${msg.error}`));
        else if (msg.event) this.events.push(Object.assign({ at: Date.now() }, msg));
        else if (this.pending.has(msg.seq)) {
          this.pending.get(msg.seq)(msg);
          this.pending.delete(msg.seq);
        }
      });
    });
    this.ready.catch(() => {});  // whoever awaits it sees the error; an unawaited one is no crash
  }

  // Resolves with the reply to `cmd`; rejects after timeoutMs or when the child exits.
  send(cmd, timeoutMs = 10000) {
    const seq = ++this.seq;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(seq);
        reject(new Error(`${this.name}: no reply to ${cmd.cmd} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(seq, (msg) => {
        clearTimeout(timer);
        if (msg instanceof Error) reject(msg);
        else resolve(msg);
      });
      this.child.stdin.write(`${JSON.stringify(Object.assign({ seq }, cmd))}\n`);
    });
  }

  // send() that rejects unless the reply says ok.
  async ok(cmd, timeoutMs) {
    const reply = await this.send(cmd, timeoutMs);
    if (!reply.ok) throw new Error(`${this.name}: ${cmd.cmd} failed: ${reply.error}`);
    return reply;
  }

  kill(signal = 'SIGKILL') {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }
}

// A client of the official Rust SDK (rust_naming_peer.js) for the server whose main port is `port`.
// Its HOME, where the SDK writes its logs and disk cache, is `root`/`name`.
function startRustPeer(name, root, port, extraArgs = []) {
  const home = path.join(root, name);
  fs.mkdirSync(home, { recursive: true });
  const peer = new JsonLinePeer(name, process.execPath,
    [path.join(__dirname, 'rust_naming_peer.js'), '--server', `127.0.0.1:${port}`, '--app-name', name, ...extraArgs],
    { env: Object.assign({}, process.env, { HOME: home }) });
  peer.home = home;
  return peer;
}

// Prints the last lines of the error logs the Rust SDK peers under `root` wrote.
function printRustSdkErrors(root, lines = 8) {
  for (const name of fs.existsSync(root) ? fs.readdirSync(root) : []) {
    const dir = path.join(root, name, 'logs', 'nacos');
    for (const file of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
      if (!file.startsWith('nacos-error.log')) continue;
      const tail = fs.readFileSync(path.join(dir, file), 'utf8').trimEnd().split('\n').slice(-lines);
      if (!tail[0]) continue;
      console.error(`--- ${name}: ${path.join(dir, file)} (last ${tail.length} lines)\n${tail.join('\n')}`);
    }
  }
}

module.exports = {
  verbose, quietLogger, sleep, waitFor, within, request, startServer, JsonLinePeer, startRustPeer,
  printRustSdkErrors,
};
