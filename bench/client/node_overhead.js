// node_overhead: the official Nacos Node.js SDK (nacos-naming, pinned in
// tests/interop/package-lock.json) registering the same instances as client_overhead_bench, for the
// side-by-side overhead comparison of bench/client/run.sh. One NacosNamingClient; instances
// registered one after the other (each registerInstance awaited); the SDK then beats them on its
// own schedule. Idles until stdin closes, then closes the client (which does not deregister).
//
//   node bench/client/node_overhead.js --server 127.0.0.1:PORT [--instances 10000] [--services 100]
//                                      [--prefix NodeOverhead]
//
// Output: "registered N instances in T ms", then "READY pid=P"; "beats N" (beats sent so far) on
// SIGUSR2.
'use strict';

const path = require('path');

const sdkPath = require.resolve('nacos-naming', {
  paths: [path.join(__dirname, '..', '..', 'tests', 'interop')],
});
const { NacosNamingClient } = require(sdkPath);

const args = { server: '', instances: 10000, services: 100, prefix: 'NodeOverhead' };
for (let i = 2; i < process.argv.length; i += 2) {
  const key = process.argv[i].replace(/^--/, '');
  if (!(key in args) || i + 1 >= process.argv.length) {
    console.error(`node_overhead: bad flag ${process.argv[i]}`);
    process.exit(2);
  }
  args[key] = typeof args[key] === 'number' ? Number(process.argv[i + 1]) : process.argv[i + 1];
}
if (!args.server) {
  console.error('usage: node node_overhead.js --server HOST:PORT [--instances N] [--services S]');
  process.exit(2);
}

const logger = { info() {}, debug() {}, warn() {}, error(...a) { console.error(...a); } };

async function main() {
  const client = new NacosNamingClient({ logger, serverList: args.server, namespace: 'public' });
  await client.ready();
  // Beats sent so far, printed as "beats N" on SIGUSR2 (run.py reads it at both ends of its window).
  let beats = 0;
  const proxy = client._serverProxy;
  const sendBeat = proxy.sendBeat.bind(proxy);
  proxy.sendBeat = (beatInfo) => { beats++; return sendBeat(beatInfo); };
  process.on('SIGUSR2', () => console.log(`beats ${beats}`));
  const start = Date.now();
  const perService = Math.floor(args.instances / args.services);
  let registered = 0;
  for (let s = 0; s < args.services; s++) {
    const name = `providers:org.apache.dubbo.bench.${args.prefix}${String(s).padStart(4, '0')}:1.0.0:`;
    for (let k = 0; k < perService; k++) {
      const n = s * perService + k;
      await client.registerInstance(name, {
        ip: `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`,
        port: 20880,
        metadata: {
          application: 'overhead-bench',
          methods: 'sayHello,sayGoodbye,echo',
          release: '3.2.0',
          side: 'provider',
          timestamp: '1700000000000',
        },
      });
      registered++;
    }
  }
  console.log(`registered ${registered} instances in ${Date.now() - start} ms`);
  console.log(`READY pid=${process.pid}`);
  process.stdin.resume();
  process.stdin.on('end', async () => {
    await client.close();
    process.exit(0);
  });
}

main().catch((err) => {
  console.error(`node_overhead: ${err.stack || err}`);
  process.exit(1);
});
