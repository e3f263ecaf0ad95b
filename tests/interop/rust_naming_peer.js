// One client of the official Nacos Rust SDK (nacos-sdk-rust 0.8.0 through its Node.js binding,
// nacos-sdk-rust-binding-node, pinned in package-lock.json), which talks gRPC to the server's main
// port + 1000, driven over JSON lines by the interop scripts (common.js JsonLinePeer):
//
//   node rust_naming_peer.js --server 127.0.0.1:PORT [--namespace NS] [--app-name NAME]
//                            [--no-push-empty-protection]
//
// stdout:  {"event":"ready","connectMs":N} once the client is connected, or {"event":"error",...}
//          and exit 1 when the SDK could not connect (it retries for about 11 s first);
//          {"event":"change","service":S,"group":G,"instances":[...]} per subscription callback;
//          {"seq":N,"ok":true|false,"error":"...","instances":[...]} per command.
// stdin:   {"seq":N,"cmd":"register"|"deregister","service":S,"group":G,"instance":{ip,port,...}}
//          {"seq":N,"cmd":"batchRegister","service":S,"group":G,"instances":[...]}
//          {"seq":N,"cmd":"list","service":S,"group":G,"subscribe":false}  (subscribe=false sends a
//            ServiceQueryRequest; true answers from the subscription cache)
//          {"seq":N,"cmd":"subscribe","service":S,"group":G}
//          {"seq":N,"cmd":"exit"}
//
// The SDK logs only to files under $HOME/logs/nacos (level from NACOS_CLIENT_LOGGER_LEVEL) and keeps
// a disk cache under $HOME/nacos, so the driver gives each peer its own HOME. Its threads keep the
// process alive, hence the explicit process.exit; the process also exits when stdin closes.
'use strict';

const readline = require('readline');
const { NacosNamingClient } = require('nacos-sdk-rust-binding-node');

function parseArgs(argv) {
  const options = { namespace: 'public', appName: 'rust-naming-peer', pushEmptyProtection: true };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--server') options.server = argv[++i];
    else if (arg === '--namespace') options.namespace = argv[++i];
    else if (arg === '--app-name') options.appName = argv[++i];
    else if (arg === '--no-push-empty-protection') options.pushEmptyProtection = false;
    else throw new Error(`unknown argument ${arg}`);
  }
  if (!options.server) throw new Error('--server HOST:PORT is required');
  return options;
}

const emit = (msg) => process.stdout.write(`${JSON.stringify(msg)}\n`);

function main() {
  const options = parseArgs(process.argv.slice(2));
  const started = Date.now();
  let client;
  try {
    // The constructor blocks this thread until the gRPC connection is set up, or throws.
    client = new NacosNamingClient({
      serverAddr: options.server,
      namespace: options.namespace,
      appName: options.appName,
      namingPushEmptyProtection: options.pushEmptyProtection,
    });
  } catch (err) {
    emit({ event: 'error', error: `the Rust SDK could not connect to ${options.server} (gRPC on port + 1000) ` +
      `after ${Date.now() - started} ms: ${err.message}` });
    process.exit(1);
  }

  const handlers = {
    register: (m) => client.registerInstance(m.service, m.group, m.instance).then(() => ({})),
    deregister: (m) => client.deregisterInstance(m.service, m.group, m.instance).then(() => ({})),
    batchRegister: (m) => client.batchRegisterInstance(m.service, m.group, m.instances).then(() => ({})),
    list: (m) => client.getAllInstances(m.service, m.group, null, m.subscribe).then((instances) => ({ instances })),
    subscribe: (m) => client.subscribe(m.service, m.group, null, (err, instances) => {
      if (err) emit({ event: 'listenerError', service: m.service, group: m.group, error: String(err) });
      else emit({ event: 'change', service: m.service, group: m.group, instances });
    }).then(() => ({})),
  };

  readline.createInterface({ input: process.stdin })
    .on('line', (line) => {
      const msg = JSON.parse(line);
      if (msg.cmd === 'exit') process.exit(0);
      const handler = handlers[msg.cmd];
      if (!handler) {
        emit({ seq: msg.seq, ok: false, error: `unknown command ${msg.cmd}` });
        return;
      }
      handler(msg).then((reply) => emit(Object.assign({ seq: msg.seq, ok: true }, reply)),
        (err) => emit({ seq: msg.seq, ok: false, error: err.message }));
    })
    .on('close', () => process.exit(0));
  emit({ event: 'ready', connectMs: Date.now() - started });
}

try {
  main();
} catch (err) {
  emit({ event: 'error', error: err.message });
  process.exit(2);
}
