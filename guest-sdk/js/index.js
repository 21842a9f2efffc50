// Write Warren actors in JavaScript.
//
// State values are JSON, as the Dapr state API shows them; calls and replies carry JSON.
// Everything here runs inside a turn: state writes, casts, timers and reminders take
// effect when the action returns, and are dropped when it throws.

import * as state from 'warren:actor/state@0.1.0';
import * as actors from 'warren:actor/actors@0.1.0';
import * as wasiConfig from 'wasi:config/store@0.2.0-rc.1';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A failed turn: `tag` is the WIT error case (`not-found`, `invalid-argument`, `failed`). */
export class ActorError extends Error {
  constructor(tag, message) {
    super(message);
    this.tag = tag;
  }
}

export const notFound = (message) => new ActorError('not-found', message);
export const invalidArgument = (message) => new ActorError('invalid-argument', message);
export const failed = (message) => new ActorError('failed', message);

const toBytes = (value) => (value === undefined ? new Uint8Array() : encoder.encode(JSON.stringify(value)));

function fromBytes(bytes) {
  if (!bytes || bytes.length === 0) return undefined;
  const text = decoder.decode(bytes);
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

// A WIT error from an import, as the ActorError it is.
function rethrow(e) {
  const error = e && e.payload !== undefined ? e.payload : e;
  if (error && typeof error.tag === 'string') {
    throw new ActorError(error.tag === 'unavailable' ? 'failed' : error.tag, String(error.val));
  }
  throw e;
}

// State.

/** The JSON value stored under `key`, or `fallback`. */
export function get(key, fallback = undefined) {
  const raw = state.get(key);
  if (raw === undefined) return fallback;
  try {
    return JSON.parse(decoder.decode(raw));
  } catch (e) {
    throw failed(`state key ${JSON.stringify(key)} is not JSON: ${e}`);
  }
}

/** Store `value` as JSON under `key` when the turn commits. */
export function put(key, value) {
  state.set(key, encoder.encode(JSON.stringify(value)));
}

/** Remove `key` when the turn commits. */
export function remove(key) {
  state.delete(key);
}

/** The keys starting with `prefix`, sorted. */
export function keys(prefix = '') {
  return state.keys(prefix);
}

// Configuration.

/** The configuration value under `key` (set with `warren config set`), or `fallback`. */
export function config(key, fallback = undefined) {
  let value;
  try {
    value = wasiConfig.get(key);
  } catch (e) {
    const error = e && e.payload !== undefined ? e.payload : e;
    throw failed(`cannot read the configuration: ${error && error.val !== undefined ? error.val : error}`);
  }
  return value === undefined ? fallback : value;
}

// Other actors.

/** Run `action` on another actor of this tenant and return its JSON reply. */
export function call(actorType, id, action, payload) {
  try {
    return fromBytes(actors.call({ actorType, id }, action, toBytes(payload)));
  } catch (e) {
    return rethrow(e);
  }
}

/** Send `action` to another actor once this turn commits, without waiting. */
export function cast(actorType, id, action, payload) {
  try {
    actors.cast({ actorType, id }, action, toBytes(payload));
  } catch (e) {
    rethrow(e);
  }
}

// Timers and reminders (Dapr's time formats: "5s", "PT1M", "R3/PT1S", RFC 3339).

/** Register (or replace) a durable reminder; it fires the action named `name` with `data`. */
export function remind(name, { due = '', period = '', ttl = '', data } = {}) {
  try {
    actors.setReminder(name, due, period, ttl, toBytes(data));
  } catch (e) {
    rethrow(e);
  }
}

/** Delete a reminder of this actor. */
export function forget(name) {
  actors.cancelReminder(name);
}

/** Start (or replace) a timer of this activation; it fires the action named `name`. */
export function setTimer(name, { due = '', period = '', ttl = '', data } = {}) {
  try {
    actors.setTimer(name, due, period, ttl, toBytes(data));
  } catch (e) {
    rethrow(e);
  }
}

/** Stop a timer of this actor. */
export function cancelTimer(name) {
  actors.cancelTimer(name);
}

// The component.

let current;

/** The context of the turn running now: `target`, `caller`, `trigger`, `metadata`. */
export function context() {
  if (current === undefined) throw new Error('no turn is running');
  return current;
}

/**
 * The `actor` export of a component: `name` and `version` describe it, `types` maps each
 * actor type's name to `{ description, idleTimeoutMs, reentrancyDepth, actions }`, where
 * `actions` maps action names to functions of the JSON payload.
 */
export function component({ name, version, types }) {
  return {
    describe() {
      return {
        name,
        version,
        actorTypes: Object.entries(types).map(([typeName, type]) => ({
          name: typeName,
          kind: 'named',
          idleTimeoutMs: type.idleTimeoutMs === undefined ? undefined : BigInt(type.idleTimeoutMs),
          reentrancyDepth: type.reentrancyDepth,
          timerActions: [],
          channels: [],
          actions: Object.keys(type.actions).sort().map((action) => ({ name: action })),
          description: type.description,
        })),
      };
    },

    handleAction: Object.values(types).some(hasAsyncAction) ? handleAsync : handle,
  };

  // An action's run: its function, the payload parsed, the context set while it runs.
  function prepare(ctx, action, payload) {
    const type = types[ctx.target.actorType];
    const run = type && Object.hasOwn(type.actions, action) ? type.actions[action] : undefined;
    if (run === undefined) {
      throw { tag: 'not-found', val: `${ctx.target.actorType} has no action ${JSON.stringify(action)}` };
    }
    let argument;
    try {
      argument = payload.length === 0 ? undefined : JSON.parse(decoder.decode(payload));
    } catch (e) {
      throw { tag: 'invalid-argument', val: `payload is not JSON: ${e}` };
    }
    return () => run(argument);
  }

  function handle(ctx, action, payload) {
    const run = prepare(ctx, action, payload);
    current = ctx;
    try {
      return toBytes(run());
    } catch (e) {
      throw asWitError(e);
    } finally {
      current = undefined;
    }
  }

  // For a component with an `async` action (one that awaits `fetch()`): the export is
  // async too, and ComponentizeJS runs the event loop until it settles. Components
  // without one keep the plain export, which is faster.
  async function handleAsync(ctx, action, payload) {
    const run = prepare(ctx, action, payload);
    current = ctx;
    try {
      return toBytes(await run());
    } catch (e) {
      throw asWitError(e);
    } finally {
      current = undefined;
    }
  }
}

const hasAsyncAction = (type) =>
  Object.values(type.actions).some((f) => f.constructor && f.constructor.name === 'AsyncFunction');

// A thrown error as the WIT error the export returns.
function asWitError(e) {
  if (e instanceof ActorError) return { tag: e.tag, val: e.message };
  return { tag: 'failed', val: String(e && e.stack ? e.stack : e) };
}
