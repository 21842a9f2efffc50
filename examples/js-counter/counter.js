// The counter actor in JavaScript: the same actions as the Rust counter.
//
// - `add` takes a JSON integer and returns the new total; `get` returns it.
// - `remind` takes `{"due": "1s", "n": 5}` and adds `n` when the reminder fires.
// - `call-add` takes `{"target": "id", "n": 3}` and adds `n` to another counter,
//   returning that counter's reply.
// - `label` returns the component's configuration value `label`
//   (`warren config set counter label ...`), or 'counter' while it is unset.

import { call, component, config, get, invalidArgument, put, remind } from '@warren/actor';

export const actor = component({
  name: 'counter',
  version: '1.0.0',
  types: {
    'counter': {
      description: 'Keeps a running total',
      actions: {
        add(n) {
          if (Array.isArray(n) && n.length === 1) n = n[0];
          if (!Number.isInteger(n)) throw invalidArgument(`add takes an integer, not ${JSON.stringify(n)}`);
          const total = get('total', 0) + n;
          put('total', total);
          return total;
        },
        get() {
          return get('total', 0);
        },
        remind({ due = '', n }) {
          remind('add', { due, data: n });
        },
        'call-add'({ target, n }) {
          return call('counter', target, 'add', n);
        },
        label() {
          return config('label', 'counter');
        },
      },
    },
  },
});
