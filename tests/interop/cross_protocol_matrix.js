// The cross-protocol matrix against our naming-server: v1 HTTP and gRPC instances live in one store.
// Writers: the official Node v1 SDK (nacos-naming), the official Rust SDK over gRPC (nacos-sdk-rust
// through rust_naming_peer.js), and raw v1 HTTP (POST/DELETE /nacos/v1/ns/instance).
// Readers: a Node v1 SDK subscription (UDP push), a Rust SDK subscription (gRPC push), the v1 list
// (GET /nacos/v1/ns/instance/list) and a gRPC ServiceQuery (the Rust SDK's getAllInstances with
// subscribe=false, from a client that never subscribes).
// Every writer x reader cell is two named checks: the reader sees the writer's instance (with its
// weight and metadata), then sees it deregistered. Each prints PASS or FAIL; a failed cell never
// stops the others.
//
//   node cross_protocol_matrix.js <path to the naming-server binary>
//
// Exits 0 when every cell passes. Every wait is bounded; every child process is killed.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { NacosNamingClient } = require('nacos-naming');
const {
  quietLogger, waitFor, within, request, startServer, startRustPeer, printRustSdkErrors,
} = require('./common');

const binary = process.argv[2];
if (!binary) {
  console.error('usage: node cross_protocol_matrix.js <naming-server binary>');
  process.exit(2);
}

const GROUP = 'DEFAULT_GROUP';
const CONNECT_WAIT_MS = 30000;  // the Rust SDK retries a failed connection for about 11 s
// Below both SDKs' polling periods (Node v1: 10 s; Rust: 60 s after a first query at 1 s).
const CELL_WAIT_MS = 5000;
// Every service holds a keeper instance from raw HTTP, so that a deregistration never leaves an
// empty list, which both SDKs ignore when pushed.
const KEEPER = { ip: '10.99.0.99', port: 9999 };

const addr = (h) => `${h.ip}:${h.port}`;
const addrs = (list) => list.map(addr).sort();
const v1Query = (service, h) => `serviceName=${encodeURIComponent(service)}&groupName=${GROUP}&ip=${h.ip}` +
  `&port=${h.port}${h.weight ? `&weight=${h.weight}` : ''}` +
  `${h.metadata ? `&metadata=${encodeURIComponent(JSON.stringify(h.metadata))}` : ''}`;

async function main() {
  // Raw HTTP instances never beat: long health timeouts keep them listed for the whole run.
  const { server, port } = await startServer(binary,
    ['--heartbeat-timeout-ms', '600000', '--ip-delete-timeout-ms', '600000'], { grpc: true });
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'grpc-matrix-'));
  const peers = [];
  const nodeClients = [];
  const results = [];
  try {
    // Clients: connection failures are recorded and fail the cells that need the client.
    const connectRust = async (name) => {
      const peer = startRustPeer(name, root, port);
      peers.push(peer);
      await within(`${name} to connect`, peer.ready, CONNECT_WAIT_MS);
      return peer;
    };
    const connectNode = async () => {
      const client = new NacosNamingClient(
        { logger: quietLogger, serverList: `127.0.0.1:${port}`, namespace: 'public' });
      nodeClients.push(client);
      await within('the Node v1 SDK to be ready', client.ready(), CONNECT_WAIT_MS);
      return client;
    };
    const settle = (promise) => promise.then((value) => ({ value }), (error) => ({ error }));
    const [nodeWriter, rustWriter, nodeReader, rustReader, rustQuery] = await Promise.all([
      settle(connectNode()), settle(connectRust('rust-writer')), settle(connectNode()),
      settle(connectRust('rust-subscriber')), settle(connectRust('rust-query'))]);
    const need = (client) => {
      if (client.error) throw client.error;
      return client.value;
    };

    const nodeSeen = new Map();  // service -> the latest hosts the Node v1 subscription got
    const writers = [
      { name: 'Node v1 SDK', key: 'node',
        register: async (service, h) => need(nodeWriter).registerInstance(service, h, GROUP),
        deregister: async (service, h) => need(nodeWriter).deregisterInstance(service, h, GROUP) },
      { name: 'Rust gRPC SDK', key: 'rust',
        register: async (service, h) => need(rustWriter).ok({ cmd: 'register', service, group: GROUP, instance: h }),
        deregister: async (service, h) =>
          need(rustWriter).ok({ cmd: 'deregister', service, group: GROUP, instance: h }) },
      { name: 'raw v1 HTTP', key: 'http',
        register: (service, h) => httpOk('POST', service, h),
        deregister: (service, h) => httpOk('DELETE', service, h) },
    ];
    async function httpOk(method, service, h) {
      const answer = await request(port, method, `/nacos/v1/ns/instance?${v1Query(service, h)}`);
      if (answer.body !== 'ok') throw new Error(`${method} /nacos/v1/ns/instance: ${answer.status} ${answer.body}`);
    }
    // Each reader: watch(service) starts watching; hosts(service) is the host objects it sees now
    // (null: nothing yet).
    const readers = [
      { name: 'Node v1 subscribe',
        watch: async (service) => need(nodeReader).subscribe(service, (hosts) => nodeSeen.set(service, hosts)),
        hosts: async (service) => nodeSeen.get(service) || null },
      { name: 'Rust subscribe',
        watch: async (service) => need(rustReader).ok({ cmd: 'subscribe', service, group: GROUP }),
        hosts: async (service) => {
          const events = need(rustReader).events.filter((e) => e.event === 'change' && e.service === service);
          return events.length ? events[events.length - 1].instances : null;
        } },
      { name: 'v1 list', watch: async () => {},
        hosts: async (service) => JSON.parse((await request(port, 'GET',
          `/nacos/v1/ns/instance/list?serviceName=${GROUP}%40%40${encodeURIComponent(service)}`)).body).hosts },
      { name: 'gRPC ServiceQuery', watch: async () => {},
        hosts: async (service) => (await need(rustQuery).ok(
          { cmd: 'list', service, group: GROUP, subscribe: false })).instances },
    ];

    // Runs the cells of one row at once and prints them in reader order.
    const row = async (label, body) => {
      const cells = await Promise.all(readers.map(async (reader) => {
        const name = `${label} -> ${reader.name}`;
        const started = Date.now();
        try {
          await body(reader);
          return { name, ok: true, line: `PASS  ${name} (${Date.now() - started} ms)` };
        } catch (err) {
          return { name, ok: false, line: `FAIL  ${name}: ${err.message}` };
        }
      }));
      for (const cell of cells) console.log(cell.line);
      results.push(...cells);
    };
    // Resolves with the hosts once `reader` lists exactly the addresses `want`.
    const sees = (reader, service, want) => waitFor(`${reader.name} to list ${want.join(', ')}`, async () => {
      const hosts = await reader.hosts(service);
      return hosts && addrs(hosts).join() === want.join() ? hosts : null;
    }, CELL_WAIT_MS, 50);

    for (const [index, writer] of writers.entries()) {
      const service = `matrix.${writer.key}`;
      const instance = { ip: `10.50.${index}.1`, port: 8000 + index, weight: 3, metadata: { writer: writer.key } };
      const keeper = addr(KEEPER);
      const withInstance = [addr(instance), keeper].sort();
      // Each reader watches the service and has seen the keeper before the writer acts.
      const ready = new Map();
      await httpOk('POST', service, KEEPER);
      await Promise.all(readers.map(async (reader) => {
        ready.set(reader, await settle((async () => {
          await reader.watch(service);
          await sees(reader, service, [keeper]);
        })()));
      }));
      const registered = await settle(writer.register(service, instance));
      await row(`${writer.name} registers`, async (reader) => {
        if (ready.get(reader).error) throw ready.get(reader).error;
        if (registered.error) throw registered.error;
        const seen = (await sees(reader, service, withInstance)).find((h) => addr(h) === addr(instance));
        if (seen.weight !== 3 || !seen.metadata || seen.metadata.writer !== writer.key) {
          throw new Error(`weight or metadata lost: ${JSON.stringify(seen)}`);
        }
      });
      const deregistered = await settle(writer.deregister(service, instance));
      await row(`${writer.name} deregisters`, async (reader) => {
        if (ready.get(reader).error) throw ready.get(reader).error;
        if (registered.error) throw registered.error;
        if (deregistered.error) throw deregistered.error;
        await sees(reader, service, [keeper]);
      });
    }
  } finally {
    for (const peer of peers) peer.kill();
    for (const client of nodeClients) await within('the Node v1 SDK to close', client.close(), 5000).catch(() => {});
    server.kill('SIGTERM');
    if (results.length && results.every((r) => r.ok)) fs.rmSync(root, { recursive: true, force: true });
    else {
      printRustSdkErrors(root, 3);
      console.error(`Rust SDK logs kept under ${root}`);
    }
  }
  const failed = results.filter((r) => !r.ok).length;
  console.log(`${results.length - failed} passed, ${failed} failed`);
  return failed === 0;
}

main().then((ok) => process.exit(ok ? 0 : 1), (err) => {
  console.error(`not ok - ${err.stack || err}`);
  process.exit(1);
});
