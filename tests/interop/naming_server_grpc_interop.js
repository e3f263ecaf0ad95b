// Interop: the official Nacos Rust SDK (nacos-sdk-rust 0.8.0 through nacos-sdk-rust-binding-node,
// pinned in package-lock.json; it speaks gRPC to the main port + 1000) against our naming-server.
// Rust SDK clients run as child processes (rust_naming_peer.js): the SDK registers, lists through a
// ServiceQuery, subscribes, receives a push, and deregisters. Then a process that registered through
// the Rust SDK is SIGKILLed, and a Node v1 SDK subscriber (nacos-naming, UDP push) and a Rust SDK
// subscriber (gRPC push) both see its instance gone; the time each took is printed.
//
//   node naming_server_grpc_interop.js <path to the naming-server binary>
//
// Exits 0 when every check passes. Every wait is bounded; every child process is killed. The Rust
// SDK logs to files only: on failure the tail of its error logs is printed and its HOME kept.
'use strict';

const assert = require('assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { NacosNamingClient } = require('nacos-naming');
const {
  quietLogger, waitFor, within, request, startServer, startRustPeer, printRustSdkErrors,
} = require('./common');

const binary = process.argv[2];
if (!binary) {
  console.error('usage: node naming_server_grpc_interop.js <naming-server binary>');
  process.exit(2);
}

const GROUP = 'DEFAULT_GROUP';
// The Rust SDK retries a failed connection for about 11 s before its constructor gives up.
const CONNECT_WAIT_MS = 30000;
// Far below the Rust SDK's own polling (a query 1 s after subscribing, then every 60 s): a change
// seen within this after that first query came by push.
const PUSH_WAIT_MS = 5000;
// Generous: the goal is milliseconds, the figures are printed. Below the Node v1 SDK's 10 s polling.
const KILL_WAIT_MS = 8000;

const checks = [];
const check = (name) => { checks.push(name); console.log(`ok - ${name}`); };

const addr = (h) => `${h.ip}:${h.port}`;
const addrs = (list) => list.map(addr).sort();

// The latest subscription callback of `peer` for `service` whose instances satisfy `predicate`.
const changeOf = (peer, service, predicate, since = 0) => () =>
  peer.events.find((e) => e.event === 'change' && e.service === service && e.at >= since && predicate(e.instances));

async function main() {
  const { server, port, grpcPort } = await startServer(binary, [], { grpc: true });
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'grpc-interop-'));
  const peers = [];
  let nodeSub;
  let passed = false;
  const rustPeer = async (name, extraArgs) => {
    const peer = startRustPeer(name, root, port, extraArgs);
    peers.push(peer);
    return within(`${name} to connect`, peer.ready, CONNECT_WAIT_MS);
  };
  const v1Hosts = async (service) => addrs(JSON.parse((await request(port, 'GET',
    `/nacos/v1/ns/instance/list?serviceName=${GROUP}%40%40${service}`)).body).hosts);
  try {
    assert.strictEqual(grpcPort, port + 1000, 'the Rust SDK dials the main port + 1000 and cannot be told otherwise');
    check(`gRPC listener on the main port + 1000 (${port} -> ${grpcPort})`);

    const readyA = await rustPeer('rust-a');
    const readyB = await rustPeer('rust-b');
    const [a, b] = peers;
    check(`Rust SDK clients connect (${readyA.connectMs} ms, ${readyB.connectMs} ms)`);

    // ---- register, query, subscribe, push, deregister ------------------------------------------
    const service = 'grpc.interop';
    const first = { ip: '10.9.0.1', port: 7001, weight: 2, metadata: { side: 'provider', application: 'rust-a' } };
    await a.ok({ cmd: 'register', service, group: GROUP, instance: first });
    const listed = (await a.ok({ cmd: 'list', service, group: GROUP, subscribe: false })).instances;
    assert.deepStrictEqual(addrs(listed), ['10.9.0.1:7001']);
    assert.strictEqual(listed[0].weight, 2);
    assert.deepStrictEqual(listed[0].metadata, first.metadata);
    assert.strictEqual(listed[0].healthy, true);
    assert.strictEqual(listed[0].enabled, true);
    assert.strictEqual(listed[0].ephemeral, true);
    assert.strictEqual(listed[0].clusterName, 'DEFAULT');
    check('Rust SDK registers, and a ServiceQuery lists the instance with its weight and metadata');

    // The ServiceQueryRequests the server has answered (the Rust SDK polls once, 1 s after it
    // subscribes, then every 60 s unless pushed).
    const queries = async () => {
      const text = (await request(port, 'GET', '/nacos/actuator/prometheus')).body;
      const line = text.split('\n').find((l) => l.startsWith(
        'naming_server_grpc_requests_handled_total{type="ServiceQueryRequest"} '));
      return line ? Number(line.split(' ')[1]) : 0;
    };
    const queriesBefore = await queries();
    await b.ok({ cmd: 'subscribe', service, group: GROUP });
    await waitFor('the Rust subscription callback', changeOf(b, service,
      (hosts) => addrs(hosts).join() === '10.9.0.1:7001'), PUSH_WAIT_MS);
    check('Rust SDK subscribes; its callback fires with the instance');

    // Once the SDK's own query has been answered, a change can only arrive by push.
    await waitFor('the Rust SDK\'s first poll after subscribing',
      async () => (await queries()) > queriesBefore, PUSH_WAIT_MS);
    const changedAt = Date.now();
    const second = { ip: '10.9.0.2', port: 7002, metadata: { side: 'provider', application: 'rust-b' } };
    await b.ok({ cmd: 'register', service, group: GROUP, instance: second });
    const pushed = await waitFor('the pushed registration', changeOf(b, service,
      (hosts) => addrs(hosts).join() === '10.9.0.1:7001,10.9.0.2:7002', changedAt), PUSH_WAIT_MS);
    check(`a registration from another connection reaches the Rust subscriber by push (${pushed.at - changedAt} ms)`);

    const deregisteredAt = Date.now();
    await a.ok({ cmd: 'deregister', service, group: GROUP, instance: first });
    const gone = await waitFor('the pushed deregistration', changeOf(b, service,
      (hosts) => addrs(hosts).join() === '10.9.0.2:7002', deregisteredAt), PUSH_WAIT_MS);
    assert.deepStrictEqual(addrs((await a.ok({ cmd: 'list', service, group: GROUP, subscribe: false })).instances),
      ['10.9.0.2:7002']);
    check(`Rust SDK deregisters; the subscriber sees it gone (${gone.at - deregisteredAt} ms) and so does a query`);

    // ---- a killed process's instance leaves every subscriber ------------------------------------
    // Both SDKs ignore a pushed empty list (Rust: push-empty protection, on by default; Node v1:
    // ServiceInfo.isValid), so a keeper instance from a connection that stays keeps the list non-empty.
    const killed = 'grpc.kill';
    const keeper = { ip: '10.9.1.2', port: 7002 };
    const doomed = { ip: '10.9.1.1', port: 7001 };
    await b.ok({ cmd: 'register', service: killed, group: GROUP, instance: keeper });
    await b.ok({ cmd: 'subscribe', service: killed, group: GROUP });
    nodeSub = new NacosNamingClient({ logger: quietLogger, serverList: `127.0.0.1:${port}`, namespace: 'public' });
    await within('the Node v1 SDK', nodeSub.ready(), CONNECT_WAIT_MS);
    const nodeSeen = [];
    nodeSub.subscribe(killed, (hosts) => nodeSeen.push({ at: Date.now(), hosts: addrs(hosts) }));
    await rustPeer('rust-doomed');
    const victim = peers[peers.length - 1];
    await victim.ok({ cmd: 'register', service: killed, group: GROUP, instance: doomed });
    const both = '10.9.1.1:7001,10.9.1.2:7002';
    await waitFor('the Node v1 subscriber to see both instances',
      () => nodeSeen.some((e) => e.hosts.join() === both), PUSH_WAIT_MS);
    await waitFor('the Rust subscriber to see both instances',
      changeOf(b, killed, (hosts) => addrs(hosts).join() === both), PUSH_WAIT_MS);
    check('Node v1 and Rust subscribers see the instance of the process about to be killed');

    const killedAt = Date.now();
    victim.kill('SIGKILL');
    await within('the killed process to exit', victim.exited, 5000);
    const [nodeGone, rustGone] = await Promise.all([
      waitFor('the Node v1 subscriber to see the killed instance gone',
        () => nodeSeen.find((e) => e.at >= killedAt && e.hosts.join() === '10.9.1.2:7002'), KILL_WAIT_MS),
      waitFor('the Rust subscriber to see the killed instance gone',
        changeOf(b, killed, (hosts) => addrs(hosts).join() === '10.9.1.2:7002', killedAt), KILL_WAIT_MS),
    ]);
    assert.deepStrictEqual(await v1Hosts(killed), ['10.9.1.2:7002']);
    check(`a SIGKILLed Rust SDK process's instance is gone for the Node v1 subscriber after ` +
      `${nodeGone.at - killedAt} ms and for the Rust subscriber after ${rustGone.at - killedAt} ms`);
    passed = true;
  } finally {
    for (const peer of peers) peer.kill();
    if (nodeSub) await within('the Node v1 SDK to close', nodeSub.close(), 5000).catch(() => {});
    server.kill('SIGTERM');
    if (passed) fs.rmSync(root, { recursive: true, force: true });
    else {
      printRustSdkErrors(root);
      console.error(`Rust SDK logs kept under ${root}`);
    }
  }
  console.log(`${checks.length} passed, 0 failed`);
}

main().then(() => process.exit(0), (err) => {
  console.error(`not ok - ${err.stack || err}`);
  console.log(`${checks.length} passed, 1 failed`);
  process.exit(1);
});
