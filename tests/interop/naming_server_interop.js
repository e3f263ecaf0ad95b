// Interop: the official Nacos Node.js naming SDK (nacos-naming, pinned in package-lock.json) against
// our naming-server. The SDK registers, lists, subscribes and receives a UDP push, then deregisters;
// an instance that expires comes back through the SDK's beats.
//
//   node naming_server_interop.js <path to the naming-server binary>
//
// Exits 0 when every check passes. Every wait is bounded; the server is always killed.
'use strict';

const assert = require('assert');
const { NacosNamingClient } = require('nacos-naming');
const { quietLogger, sleep, waitFor, request, startServer } = require('./common');

const binary = process.argv[2];
if (!binary) {
  console.error('usage: node naming_server_interop.js <naming-server binary>');
  process.exit(2);
}

async function main() {
  const { server, port } = await startServer(binary, [
    // Short health timings so that an expiry happens within the test; beats every 3 s.
    '--heartbeat-timeout-ms', '1500', '--ip-delete-timeout-ms', '2500',
    '--health-check-period-ms', '250', '--client-beat-interval-ms', '3000']);
  let client;
  const checks = [];
  const check = (name) => { checks.push(name); console.log(`ok - ${name}`); };
  try {
    client = new NacosNamingClient({ logger: quietLogger, serverList: `127.0.0.1:${port}`, namespace: 'public' });
    await client.ready();
    assert.strictEqual(await client.getServerStatus(), 'UP');
    check('server status UP');

    const service = 'interop.svc';
    await client.registerInstance(service, { ip: '10.1.1.1', port: 8080, metadata: { side: 'provider' } });
    const all = await client.getAllInstances(service, 'DEFAULT_GROUP', '', false);
    assert.strictEqual(all.length, 1);
    assert.strictEqual(all[0].ip, '10.1.1.1');
    assert.strictEqual(all[0].metadata.side, 'provider');
    assert.strictEqual(all[0].instanceId, '10.1.1.1#8080#DEFAULT#DEFAULT_GROUP@@interop.svc');
    check('SDK registers and lists');

    const seen = [];
    client.subscribe(service, (hosts) => seen.push(hosts.map((h) => `${h.ip}:${h.port}`).sort()));
    await waitFor('the first subscription callback', () => seen.length >= 1, 5000);
    assert.deepStrictEqual(seen[seen.length - 1], ['10.1.1.1:8080']);
    check('SDK subscribes');

    // Another process registers; the SDK polls only every 10 s, so seeing it within 3 s means a push.
    const added = await request(port, 'POST',
      '/nacos/v1/ns/instance?serviceName=interop.svc&ip=10.1.1.2&port=8080');
    assert.strictEqual(added.body, 'ok');
    await waitFor('the pushed change', () => seen.some((h) => h.length === 2), 3000);
    const state = JSON.parse((await request(port, 'GET', '/nacos/v1/ns/operator/push/state')).body);
    assert.ok(state.succeed >= 1, `no push was acked: ${JSON.stringify(state)}`);
    check('SDK receives a UDP push and acks it');

    // What the SDK registers is visible to any client.
    const list = JSON.parse((await request(port, 'GET',
      '/nacos/v1/ns/instance/list?serviceName=DEFAULT_GROUP%40%40interop.svc')).body);
    assert.deepStrictEqual(list.hosts.map((h) => h.ip).sort(), ['10.1.1.1', '10.1.1.2']);
    check('HTTP clients see what the SDK registered');

    // 10.1.1.2 never beats: it expires. 10.1.1.1 expires too between the SDK's beats (every 3 s,
    // delete timeout 2.5 s) and comes back with its next beat, which carries the instance.
    const hostsNow = async () => JSON.parse((await request(port, 'GET',
      '/nacos/v1/ns/instance/list?serviceName=DEFAULT_GROUP%40%40interop.svc')).body).hosts.map((h) => h.ip);
    await waitFor('10.1.1.1 to expire', async () => !(await hostsNow()).includes('10.1.1.1'), 15000);
    await waitFor('10.1.1.1 to come back through a beat', async () => (await hostsNow()).includes('10.1.1.1'), 15000);
    assert.ok(!(await hostsNow()).includes('10.1.1.2'));
    check('an expired instance comes back through its beats');

    await client.deregisterInstance(service, { ip: '10.1.1.1', port: 8080 });
    await waitFor('the deregistration', async () => (await hostsNow()).length === 0, 3000);
    check('SDK deregisters');
  } finally {
    if (client) await client.close();
    server.kill('SIGTERM');
  }
  console.log(`${checks.length} passed, 0 failed`);
}

main().then(() => process.exit(0), (err) => {
  console.error(`not ok - ${err.stack || err}`);
  console.log('0 passed, 1 failed');
  process.exit(1);
});
