// Sends outbound HTTP requests with fetch(), for the tests of Warren's egress from
// JavaScript: `fetch` takes `{"url"}` and answers `{"status", "body"}`, or `{"error"}`
// when the request is refused or fails (an answer, so the test reads why).

import { component } from '@warren/actor';

export const actor = component({
  name: 'fetcher-js',
  version: '1.0.0',
  types: {
    'fetcher-js': {
      description: 'Sends outbound HTTP requests with fetch()',
      actions: {
        async fetch({ url }) {
          try {
            const response = await fetch(url);
            return { status: response.status, body: await response.text() };
          } catch (e) {
            return { error: String(e && e.message ? e.message : e) };
          }
        },
      },
    },
  },
});
