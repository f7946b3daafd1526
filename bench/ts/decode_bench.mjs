// Time the official TypeScript SDK (npm spacetimedb@1.12.0) decoding and applying the bench
// frames through its public DbConnection, with a fake WebSocket (as in
// ../shared/vectors/ts_sdk_session.json): the real WebsocketDecompressAdapter receives every
// frame, so the path is the one a browser or node game runs, minus the network.
//
// Driven by bench/bench_decode.py: `node --expose-gc decode_bench.mjs MANIFEST`, then one JSON
// command per stdin line, {"op": "run", "case": NAME}; each answer is one stdout line
// `RESULT {json}` with the wall and CPU seconds of the timed frames and the table's row count.
// The bindings are written by hand, the way `spacetime generate --lang typescript` declares
// them, for the three bench tables in bench/workloads.py.

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import {
  DbConnectionBuilder,
  DbConnectionImpl,
  reducerSchema,
  reducers,
  schema,
  table,
  t,
} from 'spacetimedb';

// ---- hand-written bindings -------------------------------------------------------------------

const DbVector2 = t.object('DbVector2', { x: t.f32(), y: t.f32() });
const LoadoutState = t.enum('LoadoutState', {
  Idle: t.unit(),
  Moving: DbVector2,
  Dead: t.timestamp(),
});
const EntityTable = table(
  { name: 'entity', public: true },
  { entity_id: t.u32().primaryKey(), position: DbVector2, mass: t.u32() }
);
const MessageTable = table(
  { name: 'message', public: true },
  { sender: t.identity(), sent: t.timestamp(), text: t.string() }
);
const LoadoutTable = table(
  { name: 'loadout', public: true },
  {
    id: t.u64().primaryKey(),
    owner: t.identity(),
    nickname: t.option(t.string()),
    level: t.option(t.u32()),
    state: LoadoutState,
    gold: t.u128(),
    seed: t.u256(),
    score: t.f64(),
    alive: t.bool(),
  }
);
const tablesSchema = schema(EntityTable, MessageTable, LoadoutTable);
const reducersSchema = reducers(reducerSchema('tick', {}));
const REMOTE_MODULE = {
  versionInfo: { cliVersion: '1.12.0' },
  tables: tablesSchema.schemaType.tables,
  reducers: reducersSchema.reducersType.reducers,
  procedures: [],
};

class DbConnection extends DbConnectionImpl {
  static builder() {
    return new DbConnectionBuilder(REMOTE_MODULE, config => new DbConnection(config));
  }
}

// ---- a fake socket -------------------------------------------------------------------------

class FakeWebSocket {
  static last = undefined;
  constructor(url, protocol) {
    this.url = url;
    this.protocol = protocol;
    this.binaryType = 'blob';
    this.sent = 0;
    FakeWebSocket.last = this;
  }
  send() {
    this.sent += 1;
  }
  close() {}
}
globalThis.WebSocket = FakeWebSocket;

// The SDK logs through console.log; keep stdout for our RESULT lines.
console.log = (...args) => process.stderr.write(args.map(String).join(' ') + '\n');

// ---- frames ----------------------------------------------------------------------------------

function readFrames(path) {
  const data = readFileSync(path);
  const frames = [];
  let off = 0;
  while (off < data.length) {
    const n = data.readUInt32LE(off);
    // An ArrayBuffer of its own, as a browser WebSocket with binaryType 'arraybuffer' gives.
    frames.push(data.buffer.slice(data.byteOffset + off + 4, data.byteOffset + off + 4 + n));
    off += 4 + n;
  }
  return frames;
}

const manifestPath = process.argv[2];
const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
const folder = dirname(manifestPath);
const cases = new Map();
for (const c of manifest.cases) {
  cases.set(c.name, {
    ...c,
    setupFrames: readFrames(join(folder, c.setup)),
    timedFrames: readFrames(join(folder, c.frames)),
  });
}

const macrotask = () => new Promise(resolve => setImmediate(resolve));

async function connect(c) {
  const conn = DbConnection.builder()
    .withUri('ws://bench.invalid:3000')
    .withModuleName('bench')
    .withCompression('none')
    .build();
  await macrotask(); // the SDK wires its socket handlers once createWSFn resolves
  const ws = FakeWebSocket.last;
  ws.onopen?.({});
  if (c.subscribe) {
    // The TS SDK numbers query ids from 0, ours from 1: subscribe up to the frames' id.
    for (let q = 0; q <= c.query_id; q++) {
      conn.subscriptionBuilder().subscribe([`SELECT * FROM ${c.table}`]);
    }
  }
  await macrotask();
  return { conn, ws };
}

function feed(ws, frames) {
  for (const data of frames) ws.onmessage({ data });
}

async function runOnce(c) {
  const { conn, ws } = await connect(c);
  feed(ws, c.setupFrames);
  await macrotask();
  globalThis.gc?.();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  feed(ws, c.timedFrames);
  // Every message is processed on a chain of promises (microtasks); one macrotask later
  // the chain is drained (no gzip here, so nothing waits on real I/O).
  await macrotask();
  const t1 = performance.now();
  const cpu = process.cpuUsage(cpu0);
  const count = Number(conn.db[c.table].count());
  return {
    case: c.name,
    wall: (t1 - t0) / 1000,
    cpu: (cpu.user + cpu.system) / 1e6,
    count,
    ok: count === c.expect_count,
  };
}

const out = line => process.stdout.write('RESULT ' + JSON.stringify(line) + '\n');
out({ ready: true, node: process.version, cases: cases.size });

const rl = createInterface({ input: process.stdin });
for await (const line of rl) {
  if (!line.trim()) continue;
  const cmd = JSON.parse(line);
  if (cmd.op === 'quit') break;
  const c = cases.get(cmd.case);
  if (!c) {
    out({ case: cmd.case, error: 'unknown case' });
    continue;
  }
  try {
    out(await runOnce(c));
  } catch (e) {
    out({ case: cmd.case, error: String(e && e.stack ? e.stack : e) });
  }
}
process.exit(0);
