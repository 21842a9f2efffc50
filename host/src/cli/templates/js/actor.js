// The `{{name}}` actor: `add` takes a JSON integer and returns the new total, `get`
// returns it, `remind` ({"due": "10s", "n": 5}) adds `n` when a reminder fires, and
// `call-add` ({"target": "id", "n": 3}) adds to another `{{name}}` actor.
//
// Build with `warren build`, deploy with `warren deploy {{name}}.wasm`.

import { call, component, get, put, remind } from '@warren/actor';

export const actor = component({
  name: '{{name}}',
  version: '0.1.0',
  types: {
    '{{name}}': {
      description: 'Keeps a running total',
      actions: {
        add(n) {
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
          return call('{{name}}', target, 'add', n);
        },
      },
    },
  },
});
