// Interop both ways between our C++ NamingClient and the official Nacos Node.js SDK (nacos-naming,
// pinned in package-lock.json), both against our naming-server on a free loopback port:
//   (a) the C++ client sees what the SDK registers: its listener fires (UDP push) with the instance,
//       its weight and metadata; GetAllInstances lists the same; an SDK deregistration reaches it;
//   (b) the SDK sees what the C++ client registers: its subscribe callback fires (UDP push) and
//       getAllInstances lists weight and metadata; a C++ deregistration, and the deregistration
//       Shutdown() does, are seen too.
// The C++ side is tests/interop/cpp_naming_peer (a JSON line protocol on stdin/stdout).
//
//   node client_interop.js <naming-server binary> <cpp_naming_peer binary>
//
// Exits 0 when every check passes. Every wait is bounded; every child process is killed. Changes
// must arrive within PUSH_WAIT_MS, far below both clients' polling periods (10 s: the server's
// cacheMillis for push-capable clients), so a pass means the UDP push path worked.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const assert = require('assert');
const { NacosNamingClient } = require('nacos-naming');
const { quietLogger, sleep, waitFor, request, startServer, JsonLinePeer } = require('./common');

const [serverBinary, peerBinary] = process.argv.slice(2);
if (!serverBinary || !peerBinary) {
  console.error('usage: node client_interop.js <naming-server binary> <cpp_naming_peer binary>');
  process.exit(2);
}

const PUSH_WAIT_MS = 3000;

// The C++ peer: send() resolves with the reply of the same seq; events collects listener events.
function startPeer(port, cacheDir) {
  // namingProtocol=http: this file checks the v1 path (the Node SDK speaks only v1).
  return new JsonLinePeer('cpp_naming_peer', peerBinary,
    ['--server', `127.0.0.1:${port}`, '--cache-dir', cacheDir, '--prop', 'namingProtocol=http']);
}

const addr = (h) => `${h.ip}:${h.port}`;
const addrs = (list) => list.map(addr).sort();

async function main() {
  const { server, port } = await startServer(serverBinary);
  const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'client-interop-'));
  let peer;
  let sdk;
  const checks = [];
  const check = (name) => { checks.push(name); console.log(`ok - ${name}`); };
  const hostsOnServer = async (service) => JSON.parse((await request(port, 'GET',
    `/nacos/v1/ns/instance/list?serviceName=DEFAULT_GROUP%40%40${service}`)).body).hosts;
  try {
    peer = startPeer(port, cacheDir);
    sdk = new NacosNamingClient({ logger: quietLogger, serverList: `127.0.0.1:${port}`, namespace: 'public' });
    const [ready] = await Promise.all([peer.ready, sdk.ready()]);
    assert.ok(ready.udpPort > 0);
    check(`C++ peer started (udp port ${ready.udpPort}) and the SDK is ready`);

    // ---- (a) the SDK registers, the C++ client sees it ----------------------------------------
    const fromSdk = 'interop.sdk-provider';
    await peer.ok({ cmd: 'subscribe', service: fromSdk });
    const sdkMeta = { side: 'provider', application: 'node-app', 'dubbo.version': '3.2.0', methods: 'a,b' };
    await sdk.registerInstance(fromSdk, { ip: '10.2.0.1', port: 9001, weight: 2, metadata: sdkMeta });
    const added = await waitFor('the C++ listener to see the SDK instance', () =>
      peer.events.find((e) => e.service === `DEFAULT_GROUP@@${fromSdk}` &&
        e.added.some((h) => addr(h) === '10.2.0.1:9001')), PUSH_WAIT_MS);
    const seen = added.added.find((h) => addr(h) === '10.2.0.1:9001');
    assert.deepStrictEqual(seen.metadata, sdkMeta);
    assert.strictEqual(seen.weight, 2);
    assert.strictEqual(seen.healthy, true);
    assert.strictEqual(seen.enabled, true);
    assert.strictEqual(seen.ephemeral, true);
    assert.strictEqual(seen.clusterName, 'DEFAULT');
    assert.strictEqual(seen.instanceId, `10.2.0.1#9001#DEFAULT#DEFAULT_GROUP@@${fromSdk}`);
    assert.deepStrictEqual(addrs(added.instances), ['10.2.0.1:9001']);
    check('C++ listener fires with the instance the SDK registered (weight, metadata, id)');

    const listed = (await peer.ok({ cmd: 'list', service: fromSdk, subscribe: false })).instances;
    assert.deepStrictEqual(addrs(listed), ['10.2.0.1:9001']);
    assert.deepStrictEqual(listed[0].metadata, sdkMeta);
    assert.strictEqual(listed[0].weight, 2);
    check('C++ GetAllInstances lists the SDK instance with its weight and metadata');

    await sdk.registerInstance(fromSdk, { ip: '10.2.0.2', port: 9002, metadata: { side: 'provider' } });
    await waitFor('the C++ listener to see a second SDK instance', () =>
      peer.events.some((e) => e.added.some((h) => addr(h) === '10.2.0.2:9002') &&
        addrs(e.instances).join() === '10.2.0.1:9001,10.2.0.2:9002'), PUSH_WAIT_MS);
    await sdk.deregisterInstance(fromSdk, { ip: '10.2.0.1', port: 9001 });
    const removed = await waitFor('the C++ listener to see the SDK deregistration', () =>
      peer.events.find((e) => e.removed.some((h) => addr(h) === '10.2.0.1:9001')), PUSH_WAIT_MS);
    assert.deepStrictEqual(addrs(removed.instances), ['10.2.0.2:9002']);
    assert.deepStrictEqual(addrs((await peer.ok({ cmd: 'list', service: fromSdk, subscribe: false })).instances),
      ['10.2.0.2:9002']);
    check('C++ listener sees an SDK instance added and one deregistered');

    // Re-registering the same ip:port with another weight and metadata is a modification.
    await sdk.registerInstance(fromSdk, { ip: '10.2.0.2', port: 9002, weight: 5, metadata: { side: 'provider', v: '2' } });
    const modified = await waitFor('the C++ listener to see the SDK modification', () =>
      peer.events.find((e) => e.modified.some((h) => addr(h) === '10.2.0.2:9002')), PUSH_WAIT_MS);
    assert.strictEqual(modified.modified[0].weight, 5);
    assert.deepStrictEqual(modified.modified[0].metadata, { side: 'provider', v: '2' });
    assert.strictEqual(modified.added.length + modified.removed.length, 0);
    check('C++ listener sees an SDK re-registration as modified (weight, metadata)');

    // ---- (b) the C++ client registers, the SDK sees it ------------------------------------------
    const fromCpp = 'interop.cpp-provider';
    const callbacks = [];
    sdk.subscribe(fromCpp, (hosts) => callbacks.push(hosts));
    // Let the SDK's first query (an empty service) finish, so that what follows arrives by push.
    await waitFor('the SDK subscription to reach the server', async () => {
      const state = JSON.parse((await request(port, 'GET', '/nacos/v1/ns/operator/push/state')).body);
      return state.subscribers >= 2;
    }, 5000);
    const cppMeta = { side: 'provider', application: 'cpp-app', methods: 'sayHello,sayBye', dubbo: '2.0.2',
      'dubbo.metadata.revision': 'a1b2c3', empty: '' };
    await peer.ok({ cmd: 'register', service: fromCpp, ip: '10.3.0.1', port: 9101, weight: 3.5, metadata: cppMeta });
    await peer.ok({ cmd: 'register', service: fromCpp, ip: '10.3.0.2', port: 9102, weight: 1, metadata: { side: 'provider' } });
    const both = await waitFor('the SDK callback to see both C++ instances', () =>
      callbacks.find((hosts) => addrs(hosts).join() === '10.3.0.1:9101,10.3.0.2:9102'), PUSH_WAIT_MS);
    const cbFirst = both.find((h) => addr(h) === '10.3.0.1:9101');
    assert.strictEqual(cbFirst.weight, 3.5);
    assert.deepStrictEqual(cbFirst.metadata, cppMeta);
    check('SDK subscribe callback fires with the instances C++ registered (weight, metadata)');

    const all = await sdk.getAllInstances(fromCpp, 'DEFAULT_GROUP', '', false);
    assert.deepStrictEqual(addrs(all), ['10.3.0.1:9101', '10.3.0.2:9102']);
    const first = all.find((h) => addr(h) === '10.3.0.1:9101');
    assert.strictEqual(first.weight, 3.5);
    assert.deepStrictEqual(first.metadata, cppMeta);
    assert.strictEqual(first.healthy, true);
    assert.strictEqual(first.enabled, true);
    assert.strictEqual(first.ephemeral, true);
    assert.strictEqual(first.clusterName, 'DEFAULT');
    assert.strictEqual(first.instanceId, `10.3.0.1#9101#DEFAULT#DEFAULT_GROUP@@${fromCpp}`);
    assert.strictEqual(all.find((h) => addr(h) === '10.3.0.2:9102').weight, 1);
    const healthy = await sdk.selectInstances(fromCpp, 'DEFAULT_GROUP', '', true, false);
    assert.deepStrictEqual(addrs(healthy), ['10.3.0.1:9101', '10.3.0.2:9102']);
    check('SDK getAllInstances / selectInstances list the C++ instances with weight and metadata');

    await peer.ok({ cmd: 'deregister', service: fromCpp, ip: '10.3.0.2', port: 9102 });
    await waitFor('the SDK callback to see the C++ deregistration', () =>
      callbacks.some((hosts) => addrs(hosts).join() === '10.3.0.1:9101'), PUSH_WAIT_MS);
    assert.deepStrictEqual(addrs(await sdk.getAllInstances(fromCpp, 'DEFAULT_GROUP', '', false)), ['10.3.0.1:9101']);
    check('SDK sees a C++ deregistration (callback and getAllInstances)');

    // Both directions went through UDP pushes, acked by both clients.
    const pushState = async () => JSON.parse((await request(port, 'GET', '/nacos/v1/ns/operator/push/state')).body);
    const state = await waitFor('every push to be acked', async () => {
      const s = await pushState();
      return s.succeed >= 6 && s.succeed === s.total ? s : null;
    }, 2000).catch(async (err) => { throw new Error(`${err.message}: ${JSON.stringify(await pushState())}`); });
    check(`every push acked (${state.succeed} of ${state.total})`);

    // A beat from the C++ client keeps its instances (default 5 s period, server timeout 15 s):
    // nothing to wait for here; naming_client_test covers beats. Shutdown deregisters the rest.
    // The SDK drops empty lists (ServiceInfo.isValid), so the last removal is checked on the server.
    const shutdown = await peer.send({ cmd: 'shutdown' });
    assert.ok(shutdown.ok);
    const exit = await Promise.race([peer.exited, sleep(3000).then(() => null)]);
    assert.ok(exit && exit.code === 0, `cpp_naming_peer did not exit cleanly: ${JSON.stringify(exit)}`);
    assert.deepStrictEqual(await hostsOnServer(fromCpp), []);
    check('C++ Shutdown() deregisters what it registered');

    // The SDK's remaining instance is still listed; the C++ side never removed anything of the SDK's.
    assert.deepStrictEqual(addrs(await hostsOnServer(fromSdk)), ['10.2.0.2:9002']);
    check('SDK instance untouched by the C++ client');
  } finally {
    if (sdk) await sdk.close();
    if (peer) peer.kill();
    server.kill('SIGTERM');
    fs.rmSync(cacheDir, { recursive: true, force: true });
  }
  console.log(`${checks.length} passed, 0 failed`);
}

main().then(() => process.exit(0), (err) => {
  console.error(`not ok - ${err.stack || err}`);
  console.log('0 passed, 1 failed');
  process.exit(1);
});
