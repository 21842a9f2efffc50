// Write Warren actors in JavaScript.
//
// State values are JSON, as the Dapr state API shows them; calls and replies carry JSON.
// Everything here runs inside a turn: state writes, casts, timers and reminders take
// effect when the action returns, and are dropped when it throws.

import * as state from 'warren:actor/state@0.1.0';
import * as actors from 'warren:actor/actors@0.1.0';

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

    handleAction(ctx, action, payload) {
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
      current = ctx;
      try {
        return toBytes(run(argument));
      } catch (e) {
        if (e instanceof ActorError) throw { tag: e.tag, val: e.message };
        throw { tag: 'failed', val: String(e && e.stack ? e.stack : e) };
      } finally {
        current = undefined;
      }
    },
  };
}
