// Drive the official TypeScript SDK (npm spacetimedb@1.12.0) against a stdb_game dev server
// running the quickstart-chat module, through the SDK's public API only.
//
// Usage: node quickstart_chat_check.mjs ws://127.0.0.1:PORT DATABASE
// Prints one line `RESULT {json}` with every check and whether it passed; exit code 0 = all.
//
// The bindings below are what `spacetime generate --lang typescript` (CLI 1.12) produces for
// quickstart-chat, written by hand in plain JavaScript: tables `user` and `message`,
// reducers `set_name` and `send_message` (the lifecycle reducers are not listed, as there).

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

const UserTable = table(
  { name: 'user', public: true },
  {
    identity: t.identity().primaryKey(),
    name: t.option(t.string()),
    online: t.bool(),
  }
);
const MessageTable = table(
  { name: 'message', public: true },
  {
    sender: t.identity(),
    sent: t.timestamp(),
    text: t.string(),
  }
);
const tablesSchema = schema(MessageTable, UserTable);
const reducersSchema = reducers(
  reducerSchema('send_message', { text: t.string() }),
  reducerSchema('set_name', { name: t.string() })
);
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

// ---- the check -------------------------------------------------------------------------------

const [uri, database] = process.argv.slice(2);
if (!uri || !database) {
  console.error('usage: node quickstart_chat_check.mjs WS_URI DATABASE');
  process.exit(2);
}
if (typeof globalThis.WebSocket === 'undefined') {
  const error = 'no global WebSocket (run node with --experimental-websocket on Node 20/21)';
  console.log('RESULT ' + JSON.stringify({ ok: false, error }));
  process.exit(1);
}

const checks = {};
const notes = [];
function check(name, ok, detail) {
  checks[name] = { ok: Boolean(ok), ...(detail === undefined ? {} : { detail }) };
}

function waitFor(what, predicate, timeoutMs = 10000) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const tick = () => {
      let value;
      try {
        value = predicate();
      } catch (e) {
        reject(e);
        return;
      }
      if (value) resolve(value);
      else if (Date.now() - started > timeoutMs) reject(new Error(`timed out waiting for ${what}`));
      else setTimeout(tick, 10);
    };
    tick();
  });
}

function connect({ token, light = false, compression = 'gzip' }) {
  const state = {
    conn: undefined,
    identity: undefined,
    token: undefined,
    connectError: undefined,
    disconnected: false,
    applied: false,
    inserts: { user: [], message: [] },
    updates: [],
    reducerEvents: [],
  };
  const builder = DbConnection.builder()
    .withUri(uri)
    .withModuleName(database)
    .withCompression(compression)
    .withLightMode(light)
    .onConnect((conn, identity, tok) => {
      state.identity = identity;
      state.token = tok;
    })
    .onConnectError((_ctx, err) => {
      state.connectError = String(err && err.message ? err.message : err);
    })
    .onDisconnect(() => {
      state.disconnected = true;
    });
  if (token) builder.withToken(token);
  const conn = builder.build();
  state.conn = conn;
  conn.db.user.onInsert((ctx, row) => state.inserts.user.push({ row, event: ctx.event.tag }));
  conn.db.message.onInsert((ctx, row) => state.inserts.message.push({ row, event: ctx.event.tag }));
  conn.db.user.onUpdate((ctx, oldRow, newRow) => state.updates.push({ oldRow, newRow, event: ctx.event.tag }));
  const onReducer = name => (ctx, args) =>
    state.reducerEvents.push({
      name,
      args,
      status: ctx.event.status,
      caller: ctx.event.callerIdentity,
    });
  conn.reducers.onSetName(onReducer('set_name'));
  conn.reducers.onSendMessage(onReducer('send_message'));
  return state;
}

function subscribeAll(state) {
  state.conn
    .subscriptionBuilder()
    .onApplied(() => {
      state.applied = true;
    })
    .onError((_ctx, err) => {
      state.subscribeError = String(err);
    })
    .subscribe(['SELECT * FROM user', 'SELECT * FROM message']);
}

const hex = id => (id ? id.toHexString() : undefined);
const sameId = (a, b) => a !== undefined && b !== undefined && hex(a) === hex(b);

async function main() {
  const suffix = Math.random().toString(36).slice(2, 8);
  const name = `ts-${suffix}`;
  const text = `hello from the official TS SDK ${suffix}`;

  // 1. anonymous connect: IdentityToken -> onConnect with a minted identity and token
  const a = connect({});
  await waitFor('onConnect', () => a.identity || a.connectError);
  check('connect_anonymous', a.identity && !a.connectError, a.connectError);
  check('identity_looks_real', hex(a.identity).startsWith('c200'), hex(a.identity));
  check('token_received', typeof a.token === 'string' && a.token.split('.').length === 3);

  // 2. subscribe to both tables; our own user row (made by client_connected) arrives
  subscribeAll(a);
  await waitFor('onApplied', () => a.applied || a.subscribeError);
  check('subscription_applied', a.applied, a.subscribeError);
  const mine = () => a.conn.db.user.identity.find(a.identity);
  check('own_user_row_in_cache', mine() && mine().online === true);
  check('insert_callbacks_for_initial_rows', a.inserts.user.some(e => sameId(e.row.identity, a.identity)));

  // 3. set_name -> reducer callback (Committed) and an onUpdate of our row
  a.conn.reducers.setName({ name });
  await waitFor('set_name event', () => a.reducerEvents.find(e => e.name === 'set_name'));
  const setNameEvent = a.reducerEvents.find(e => e.name === 'set_name');
  check('set_name_committed', setNameEvent.status.tag === 'Committed', setNameEvent.status.tag);
  check('set_name_caller_is_me', sameId(setNameEvent.caller, a.identity));
  await waitFor('user onUpdate', () => a.updates.find(u => sameId(u.newRow.identity, a.identity)));
  const upd = a.updates.find(u => sameId(u.newRow.identity, a.identity));
  check('user_row_updated', upd.oldRow.name === undefined && upd.newRow.name === name, {
    old: upd.oldRow.name,
    new: upd.newRow.name,
  });
  check('cache_has_new_name', mine() && mine().name === name);

  // 4. send_message -> onInsert of a message row sent by us
  a.conn.reducers.sendMessage({ text });
  await waitFor('message onInsert', () => a.inserts.message.find(e => e.row.text === text));
  const msgEvent = a.inserts.message.find(e => e.row.text === text);
  check('message_inserted', sameId(msgEvent.row.sender, a.identity) && msgEvent.event === 'Reducer', msgEvent.event);
  check(
    'send_message_committed',
    a.reducerEvents.some(e => e.name === 'send_message' && e.status.tag === 'Committed' && e.args.text === text)
  );

  // 5. a second client in light mode, no compression, sees our next message
  const b = connect({ light: true, compression: 'none' });
  await waitFor('second onConnect', () => b.identity || b.connectError);
  subscribeAll(b);
  await waitFor('second onApplied', () => b.applied || b.subscribeError);
  check('second_client_sees_history', b.conn.db.message.count() >= 1 && [...b.conn.db.message.iter()].some(m => m.text === text));
  const text2 = `${text} (again)`;
  a.conn.reducers.sendMessage({ text: text2 });
  await waitFor('light client onInsert', () => b.inserts.message.find(e => e.row.text === text2));
  check('light_client_gets_insert', true);
  const otherUser = b.conn.db.user.identity.find(a.identity);
  check('second_client_sees_first_user', otherUser && otherUser.name === name);

  // 6. failing reducer: empty message -> Failed status with the module's message
  a.conn.reducers.sendMessage({ text: '' });
  await waitFor('failed send_message', () =>
    a.reducerEvents.find(e => e.name === 'send_message' && e.status.tag === 'Failed')
  );
  const failed = a.reducerEvents.find(e => e.name === 'send_message' && e.status.tag === 'Failed');
  check('failing_reducer_reported', failed.status.value === 'Messages must not be empty', failed.status.value);

  // 7. reconnect with the saved token: same identity, persisted name
  const savedToken = a.token;
  const savedIdentity = hex(a.identity);
  a.conn.disconnect();
  await waitFor('disconnect', () => a.disconnected);
  await waitFor('other sees us offline', () => {
    const row = b.conn.db.user.identity.find(a.identity);
    return row && row.online === false;
  });
  check('disconnect_marks_offline', true);
  const c = connect({ token: savedToken });
  await waitFor('reconnect onConnect', () => c.identity || c.connectError);
  check('reconnect_with_token', !c.connectError && hex(c.identity) === savedIdentity, c.connectError || hex(c.identity));
  subscribeAll(c);
  await waitFor('reconnect onApplied', () => c.applied || c.subscribeError);
  const again = c.conn.db.user.identity.find(c.identity);
  check('identity_kept_name', again && again.name === name && again.online === true);
  check('messages_still_there', [...c.conn.db.message.iter()].some(m => m.text === text));

  b.conn.disconnect();
  c.conn.disconnect();
}

let error;
try {
  await main();
} catch (e) {
  error = String(e && e.stack ? e.stack : e);
}
const ok = !error && Object.values(checks).every(c => c.ok) && Object.keys(checks).length > 0;
const plain = (_key, value) => (typeof value === 'bigint' ? value.toString() : value);
console.log('RESULT ' + JSON.stringify({ ok, checks, error, notes }, plain));
// The SDK keeps timers alive; leave explicitly.
setTimeout(() => process.exit(ok ? 0 : 1), 50);
