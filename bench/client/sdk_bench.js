// sdk_bench: an official Nacos SDK in one of the roles that bench/client/run.py measures, speaking
// the same lines as bench/client/client_bench.cc (see that file for the roles and the lines):
//   --sdk rust: nacos-sdk-rust 0.8.0 through nacos-sdk-rust-binding-node (gRPC to port + 1000);
//   --sdk node: nacos-naming 2.6.3, the Node.js SDK (v1 HTTP, UDP push, beats).
// Both are pinned in tests/interop/package-lock.json (install: cd tests/interop && npm ci).
//
//   node bench/client/sdk_bench.js --sdk rust|node --role listener|provider|hold
//        --server 127.0.0.1:PORT [--service NAME] [--instance IP:PORT]
//        [--instances 10000] [--services 1000] [--threads 8] [--prefix NAME]
//
// Times are process.hrtime.bigint(), which is CLOCK_MONOTONIC on Linux (libuv's uv_hrtime).
// hold registers with --threads calls in flight: the Rust SDK one batchRegisterInstance per
// service (a second single registerInstance of a service on one connection replaces the first),
// the Node SDK one registerInstance per instance. The Rust SDK writes logs and a disk cache under
// $HOME: run.py gives each process its own HOME.
'use strict';

const path = require('path');
const readline = require('readline');

const interop = path.join(__dirname, '..', '..', 'tests', 'interop');
const args = {
  sdk: '', role: '', server: '', service: 'providers:org.apache.dubbo.bench.ClientBench:1.0.0:',
  instance: '', instances: 10000, services: 1000, threads: 8, prefix: 'Hold',
};
for (let i = 2; i < process.argv.length; i += 2) {
  const key = process.argv[i].replace(/^--/, '');
  if (!(key in args) || i + 1 >= process.argv.length) {
    console.error(`sdk_bench: bad flag ${process.argv[i]}`);
    process.exit(2);
  }
  args[key] = typeof args[key] === 'number' ? Number(process.argv[i + 1]) : process.argv[i + 1];
}
if (!args.server || !['rust', 'node'].includes(args.sdk)) {
  console.error('usage: node sdk_bench.js --sdk rust|node --role listener|provider|hold --server HOST:PORT ...');
  process.exit(2);
}

const GROUP = 'DEFAULT_GROUP';
const now = () => process.hrtime.bigint().toString();
const emit = (line) => process.stdout.write(`${line}\n`);
const metadata = {
  application: 'client-bench', methods: 'sayHello,sayGoodbye,echo', release: '3.2.0', side: 'provider',
  timestamp: '1700000000000',
};
const instanceOf = (ip, port) => ({ ip, port: Number(port), weight: 1, healthy: true, enabled: true,
  ephemeral: true, metadata });

// The same calls on both SDKs.
async function makeClient() {
  if (args.sdk === 'rust') {
    const { NacosNamingClient } = require(require.resolve('nacos-sdk-rust-binding-node', { paths: [interop] }));
    // The constructor blocks until the gRPC connection is set up, or throws.
    const c = new NacosNamingClient({ serverAddr: args.server, namespace: 'public', appName: 'sdk-bench' });
    return {
      register: (s, ins) => c.registerInstance(s, GROUP, ins),
      registerMany: (s, list) => c.batchRegisterInstance(s, GROUP, list),
      deregister: (s, ins) => c.deregisterInstance(s, GROUP, ins),
      subscribe: (s, fn) => c.subscribe(s, GROUP, null, (err, hosts) => { if (!err) fn(hosts); }),
      beats: () => 0,
      close: async () => {},
    };
  }
  const { NacosNamingClient } = require(require.resolve('nacos-naming', { paths: [interop] }));
  const logger = { info() {}, debug() {}, warn() {}, error(...a) { console.error(...a); } };
  const c = new NacosNamingClient({ logger, serverList: args.server, namespace: 'public' });
  await c.ready();
  let beats = 0;
  const proxy = c._serverProxy;
  const sendBeat = proxy.sendBeat.bind(proxy);
  proxy.sendBeat = (beatInfo) => { beats++; return sendBeat(beatInfo); };
  return {
    register: (s, ins) => c.registerInstance(s, ins, GROUP),
    registerMany: async (s, list) => { for (const ins of list) await c.registerInstance(s, ins, GROUP); },
    deregister: (s, ins) => c.deregisterInstance(s, ins, GROUP),
    subscribe: async (s, fn) => c.subscribe({ serviceName: s, groupName: GROUP }, fn),
    beats: () => beats,
    close: () => c.close(),
  };
}

const onStdinEnd = (client) => {
  process.stdin.on('end', async () => {
    await client.close().catch(() => {});
    process.exit(0);
  });
};

async function listener(client) {
  let healthy = new Set();
  await client.subscribe(args.service, (hosts) => {
    const t1 = now();
    const next = new Set(hosts.filter((h) => h.healthy && h.enabled !== false).map((h) => `${h.ip}:${h.port}`));
    const out = [];
    for (const a of next) if (!healthy.has(a)) out.push(`E ${t1} + ${a}`);
    for (const a of healthy) if (!next.has(a)) out.push(`E ${t1} - ${a}`);
    healthy = next;
    if (out.length) emit(out.join('\n'));
  });
  emit('READY');
  process.stdin.resume();
  onStdinEnd(client);
}

async function provider(client) {
  if (args.instance) {
    const [ip, port] = args.instance.split(':');
    await client.register(args.service, instanceOf(ip, port));
  }
  emit('READY');
  const lines = readline.createInterface({ input: process.stdin });
  // One command at a time, in order.
  let chain = Promise.resolve();
  lines.on('line', (line) => {
    const [verb, ip, port] = line.trim().split(/\s+/);
    chain = chain.then(async () => {
      const ins = instanceOf(ip, port);
      const t0 = now();
      let result = 'ok';
      try {
        await (verb === 'add' ? client.register(args.service, ins) : client.deregister(args.service, ins));
      } catch (err) {
        result = `error ${err.message}`;
      }
      emit(`T ${t0} ${now()} ${result}`);
    });
  });
  lines.on('close', () => chain.then(() => client.close()).finally(() => process.exit(0)));
}

async function hold(client) {
  const perService = Math.floor(args.instances / args.services);
  let registered = 0;
  let next = 0;
  const start = Date.now();
  const worker = async () => {
    for (let s = next++; s < args.services; s = next++) {
      const name = `providers:org.apache.dubbo.bench.${args.prefix}${String(s).padStart(4, '0')}:1.0.0:`;
      const list = [];
      for (let k = 0; k < perService; k++) {
        const n = s * perService + k;
        list.push(instanceOf(`10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`, 20880));
      }
      await client.registerMany(name, list);
      registered += list.length;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, args.threads) }, worker));
  emit(`registered ${registered} instances in ${Date.now() - start} ms`);
  emit(`READY pid=${process.pid}`);
  process.on('SIGUSR2', () => emit(`stats beats ${client.beats()} failed 0`));
  process.stdin.resume();
  onStdinEnd(client);
}

async function main() {
  const client = await makeClient();
  const role = { listener, provider, hold }[args.role];
  if (!role) throw new Error('--role must be listener, provider or hold');
  await role(client);
}

main().catch((err) => {
  console.error(`sdk_bench: ${err.stack || err}`);
  process.exit(1);
});
