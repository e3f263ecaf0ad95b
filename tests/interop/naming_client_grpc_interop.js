// Interop: our NamingClient over gRPC (tests/interop/cpp_naming_peer with namingProtocol=grpc)
// with the official Rust SDK (gRPC, rust_naming_peer.js) and the official Node.js v1 SDK
// (nacos-naming, HTTP and UDP push), all through our naming-server:
//   (a) what the C++ client registers, changes (a new weight and metadata), adds (a second instance
//       of the service, one BatchInstanceRequest) and deregisters reaches a Rust subscriber and a
//       Node v1 subscriber by push;
//   (b) what the Rust SDK and the Node v1 SDK register, change and deregister reaches a C++ gRPC
//       subscriber by push;
//   (c) a SIGKILLed C++ gRPC process leaves the Rust and the Node v1 subscribers' view, and a
//       SIGKILLed Rust SDK process leaves the C++ subscriber's view: the server drops a
//       connection's instances when it closes and pushes at once (gRPC and UDP). The times are
//       printed; the statement is "well under a second", the wait is KILL_WAIT_MS.
// Every change must arrive within PUSH_WAIT_MS, far below every client's polling (the Rust SDK
// polls 60 s apart after its first query, the Node SDK and ours 10 s apart), so a pass means the
// push paths worked. The C++ peer's requests are counted on the server's gRPC counters, so a
// silent fallback to HTTP fails the test.
//
//   node naming_client_grpc_interop.js <naming-server binary> <cpp_naming_peer binary>
//
// Exits 0 when every check passes. Every wait is bounded; every child process is killed.
'use strict';

const assert = require('assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { NacosNamingClient } = require('nacos-naming');
const {
  quietLogger, waitFor, within, request, startServer, JsonLinePeer, startRustPeer, printRustSdkErrors,
} = require('./common');

const [serverBinary, peerBinary] = process.argv.slice(2);
if (!serverBinary || !peerBinary) {
  console.error('usage: node naming_client_grpc_interop.js <naming-server binary> <cpp_naming_peer binary>');
  process.exit(2);
}

const GROUP = 'DEFAULT_GROUP';
const CONNECT_WAIT_MS = 30000;
const PUSH_WAIT_MS = 5000;
const KILL_WAIT_MS = 8000;

const checks = [];
const check = (name) => { checks.push(name); console.log(`ok - ${name}`); };

const addr = (h) => `${h.ip}:${h.port}`;
// "ip:port/weight" of the healthy instances, sorted: what a consumer would call.
const view = (hosts) => hosts.filter((h) => h.healthy && h.enabled !== false)
  .map((h) => `${addr(h)}/${h.weight}`).sort().join();

async function main() {
  const { server, port } = await startServer(serverBinary, [], { grpc: true });
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'client-grpc-interop-'));
  const peers = [];
  let node;
  let passed = false;

  const cppPeer = async (name) => {
    const dir = path.join(root, name);
    fs.mkdirSync(dir, { recursive: true });
    const peer = new JsonLinePeer(name, peerBinary, ['--server', `127.0.0.1:${port}`, '--cache-dir', dir,
      '--prop', 'namingProtocol=grpc']);
    peers.push(peer);
    await within(`${name} to start`, peer.ready, CONNECT_WAIT_MS);
    return peer;
  };
  const rustPeer = async (name) => {
    const peer = startRustPeer(name, root, port);
    peers.push(peer);
    await within(`${name} to connect`, peer.ready, CONNECT_WAIT_MS);
    return peer;
  };
  // The requests of `type` the server's gRPC side has answered.
  const grpcHandled = async (type) => {
    const text = (await request(port, 'GET', '/nacos/actuator/prometheus')).body;
    const line = text.split('\n').find((l) => l.startsWith(`naming_server_grpc_requests_handled_total{type="${type}"} `));
    return line ? Number(line.split(' ')[1]) : 0;
  };
  // Waits until the latest event since `since` in `events()` shows the view `want`; resolves with
  // the ms from `since` to that event.
  const sees = (what, events, hostsOf, since, want, timeoutMs = PUSH_WAIT_MS) => waitFor(what, () => {
    const e = events().filter((x) => x.at >= since).pop();
    return e && view(hostsOf(e)) === want ? e : null;
  }, timeoutMs).then((e) => e.at - since);
  const changes = (peer, service) => () => peer.events.filter((x) => x.event === 'change' && x.service === service);
  const rustSees = (peer, service, want, since, what, timeoutMs) =>
    sees(what, changes(peer, service), (e) => e.instances, since, want, timeoutMs);
  const cppSees = (peer, service, want, since, what, timeoutMs) =>
    sees(what, changes(peer, `${GROUP}@@${service}`), (e) => e.instances, since, want, timeoutMs);
  const nodeSeen = new Map();  // service -> [{ at, hosts }]
  const nodeSubscribe = (service) => {
    nodeSeen.set(service, []);
    node.subscribe({ serviceName: service, groupName: GROUP },
      (hosts) => nodeSeen.get(service).push({ at: Date.now(), hosts }));
  };
  const nodeSees = (service, want, since, what, timeoutMs) =>
    sees(what, () => nodeSeen.get(service), (e) => e.hosts, since, want, timeoutMs);

  try {
    const cpp = await cppPeer('cpp-a');
    const rust = await rustPeer('rust-a');
    node = new NacosNamingClient({ logger: quietLogger, serverList: `127.0.0.1:${port}`, namespace: 'public' });
    await within('the Node v1 SDK', node.ready(), CONNECT_WAIT_MS);
    check('the C++ gRPC peer, a Rust SDK peer and the Node v1 SDK are up');

    // ---- (a) C++ over gRPC -> Rust and Node v1 subscribers ---------------------------------------
    const fromCpp = 'grpc-client.from-cpp';
    await rust.ok({ cmd: 'subscribe', service: fromCpp, group: GROUP });
    nodeSubscribe(fromCpp);
    const before = (await grpcHandled('InstanceRequest')) + (await grpcHandled('BatchInstanceRequest'));
    const meta = { side: 'provider', application: 'cpp-app', methods: 'a,b' };
    let t = Date.now();
    await cpp.ok({ cmd: 'register', service: fromCpp, ip: '10.7.0.1', port: 7001, weight: 2, metadata: meta });
    const after = (await grpcHandled('InstanceRequest')) + (await grpcHandled('BatchInstanceRequest'));
    assert.ok(after > before, 'the C++ registration did not go over gRPC');
    let ms = await Promise.all([
      rustSees(rust, fromCpp, '10.7.0.1:7001/2', t, 'the Rust subscriber to see the C++ instance'),
      nodeSees(fromCpp, '10.7.0.1:7001/2', t, 'the Node v1 subscriber to see the C++ instance'),
    ]);
    const listed = (await rust.ok({ cmd: 'list', service: fromCpp, group: GROUP, subscribe: false })).instances;
    assert.deepStrictEqual(listed[0].metadata, meta);
    check(`a C++ gRPC registration reaches the Rust (${ms[0]} ms) and Node v1 (${ms[1]} ms) subscribers, ` +
      'with its weight and metadata');

    t = Date.now();
    await cpp.ok({ cmd: 'register', service: fromCpp, ip: '10.7.0.1', port: 7001, weight: 3,
      metadata: Object.assign({}, meta, { release: '2' }) });
    ms = await Promise.all([
      rustSees(rust, fromCpp, '10.7.0.1:7001/3', t, 'the Rust subscriber to see the changed weight'),
      nodeSees(fromCpp, '10.7.0.1:7001/3', t, 'the Node v1 subscriber to see the changed weight'),
    ]);
    check(`a C++ change (weight 2 -> 3) reaches the Rust (${ms[0]} ms) and Node v1 (${ms[1]} ms) subscribers`);

    t = Date.now();
    await cpp.ok({ cmd: 'register', service: fromCpp, ip: '10.7.0.2', port: 7002, weight: 1, metadata: meta });
    const both = '10.7.0.1:7001/3,10.7.0.2:7002/1';
    ms = await Promise.all([
      rustSees(rust, fromCpp, both, t, 'the Rust subscriber to see both C++ instances'),
      nodeSees(fromCpp, both, t, 'the Node v1 subscriber to see both C++ instances'),
    ]);
    check(`a second C++ instance of the service joins the first for the Rust (${ms[0]} ms) and Node v1 ` +
      `(${ms[1]} ms) subscribers`);

    t = Date.now();
    await cpp.ok({ cmd: 'deregister', service: fromCpp, ip: '10.7.0.1', port: 7001 });
    ms = await Promise.all([
      rustSees(rust, fromCpp, '10.7.0.2:7002/1', t, 'the Rust subscriber to see the deregistration'),
      nodeSees(fromCpp, '10.7.0.2:7002/1', t, 'the Node v1 subscriber to see the deregistration'),
    ]);
    check(`a C++ deregistration reaches the Rust (${ms[0]} ms) and Node v1 (${ms[1]} ms) subscribers`);

    // ---- (b) Rust and Node v1 -> a C++ gRPC subscriber -------------------------------------------
    // Each SDK's instance keeps the list non-empty while the other's comes and goes (an empty push
    // is ignored by every client's push-empty protection).
    const toCpp = 'grpc-client.to-cpp';
    await cpp.ok({ cmd: 'subscribe', service: toCpp });
    const rustIn = (weight) => ({ ip: '10.7.1.1', port: 7101, weight, metadata: { application: 'rust-app' } });
    const nodeIn = (weight) => ({ ip: '10.7.1.2', port: 7102, weight, metadata: { application: 'node-app' } });
    t = Date.now();
    await rust.ok({ cmd: 'register', service: toCpp, group: GROUP, instance: rustIn(1) });
    ms = [await cppSees(cpp, toCpp, '10.7.1.1:7101/1', t, 'the C++ subscriber to see the Rust instance')];
    t = Date.now();
    await node.registerInstance(toCpp, nodeIn(1), GROUP);
    ms.push(await cppSees(cpp, toCpp, '10.7.1.1:7101/1,10.7.1.2:7102/1', t,
      'the C++ subscriber to see the Node v1 instance'));
    const seen = cpp.events.filter((e) => e.event === 'change' && e.service === `${GROUP}@@${toCpp}`).pop();
    assert.deepStrictEqual(seen.instances.find((h) => h.ip === '10.7.1.1').metadata, { application: 'rust-app' });
    assert.deepStrictEqual(seen.instances.find((h) => h.ip === '10.7.1.2').metadata, { application: 'node-app' });
    check(`Rust (${ms[0]} ms) and Node v1 (${ms[1]} ms) registrations reach the C++ gRPC subscriber, with metadata`);

    t = Date.now();
    await rust.ok({ cmd: 'register', service: toCpp, group: GROUP, instance: rustIn(4) });
    ms = [await cppSees(cpp, toCpp, '10.7.1.1:7101/4,10.7.1.2:7102/1', t, 'the C++ subscriber to see the Rust change')];
    t = Date.now();
    await node.registerInstance(toCpp, nodeIn(5), GROUP);
    ms.push(await cppSees(cpp, toCpp, '10.7.1.1:7101/4,10.7.1.2:7102/5', t,
      'the C++ subscriber to see the Node v1 change'));
    check(`Rust (${ms[0]} ms) and Node v1 (${ms[1]} ms) changes (weights) reach the C++ gRPC subscriber`);

    t = Date.now();
    await rust.ok({ cmd: 'deregister', service: toCpp, group: GROUP, instance: rustIn(4) });
    ms = [await cppSees(cpp, toCpp, '10.7.1.2:7102/5', t, 'the C++ subscriber to see the Rust deregistration')];
    await rust.ok({ cmd: 'register', service: toCpp, group: GROUP, instance: rustIn(4) });
    await cppSees(cpp, toCpp, '10.7.1.1:7101/4,10.7.1.2:7102/5', t, 'the Rust instance back');
    t = Date.now();
    await node.deregisterInstance(toCpp, nodeIn(5), GROUP);
    ms.push(await cppSees(cpp, toCpp, '10.7.1.1:7101/4', t, 'the C++ subscriber to see the Node v1 deregistration'));
    check(`Rust (${ms[0]} ms) and Node v1 (${ms[1]} ms) deregistrations reach the C++ gRPC subscriber`);

    // ---- (c) SIGKILL ------------------------------------------------------------------------------
    const killed = 'grpc-client.kill';
    await rust.ok({ cmd: 'register', service: killed, group: GROUP, instance: { ip: '10.7.2.9', port: 7209 } });
    await rust.ok({ cmd: 'subscribe', service: killed, group: GROUP });
    await cpp.ok({ cmd: 'subscribe', service: killed });
    nodeSubscribe(killed);
    const doomedCpp = await cppPeer('cpp-doomed');
    t = Date.now();
    await doomedCpp.ok({ cmd: 'register', service: killed, ip: '10.7.2.1', port: 7201 });
    const withCpp = '10.7.2.1:7201/1,10.7.2.9:7209/1';
    await Promise.all([
      rustSees(rust, killed, withCpp, t, 'the Rust subscriber to see the doomed C++ instance'),
      nodeSees(killed, withCpp, t, 'the Node v1 subscriber to see the doomed C++ instance'),
    ]);
    t = Date.now();
    doomedCpp.kill('SIGKILL');
    await within('the killed C++ peer to exit', doomedCpp.exited, 5000);
    ms = await Promise.all([
      rustSees(rust, killed, '10.7.2.9:7209/1', t, 'the Rust subscriber to see the killed C++ instance gone',
        KILL_WAIT_MS),
      nodeSees(killed, '10.7.2.9:7209/1', t, 'the Node v1 subscriber to see the killed C++ instance gone',
        KILL_WAIT_MS),
    ]);
    check(`a SIGKILLed C++ gRPC process's instance is gone for the Rust subscriber after ${ms[0]} ms ` +
      `and for the Node v1 subscriber after ${ms[1]} ms`);

    const doomedRust = await rustPeer('rust-doomed');
    t = Date.now();
    await doomedRust.ok({ cmd: 'register', service: killed, group: GROUP, instance: { ip: '10.7.2.2', port: 7202 } });
    await cppSees(cpp, killed, '10.7.2.2:7202/1,10.7.2.9:7209/1', t, 'the C++ subscriber to see the doomed Rust instance');
    t = Date.now();
    doomedRust.kill('SIGKILL');
    await within('the killed Rust peer to exit', doomedRust.exited, 5000);
    const cppGone = await cppSees(cpp, killed, '10.7.2.9:7209/1', t,
      'the C++ subscriber to see the killed Rust instance gone', KILL_WAIT_MS);
    check(`a SIGKILLed Rust SDK process's instance is gone for the C++ gRPC subscriber after ${cppGone} ms`);
    passed = true;
  } finally {
    for (const peer of peers) peer.kill();
    if (node) await within('the Node v1 SDK to close', node.close(), 5000).catch(() => {});
    server.kill('SIGTERM');
    if (passed) fs.rmSync(root, { recursive: true, force: true });
    else {
      printRustSdkErrors(root);
      console.error(`peer logs and caches kept under ${root}`);
    }
  }
  console.log(`${checks.length} passed, 0 failed`);
}

main().then(() => process.exit(0), (err) => {
  console.error(`not ok - ${err.stack || err}`);
  console.log(`${checks.length} passed, 1 failed`);
  process.exit(1);
});
