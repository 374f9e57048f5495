/**
 * An example consumer to copy: tells customers that their order shipped.
 * Run it: sluice consumers run examples/shop/consumers/shipped-orders.ts
 */
import { defineConsumer } from 'sluice/consumers';

export default defineConsumer({
  name: 'shipped-orders',
  from: 'deltas',
  tables: ['public.orders'],
  ops: ['update'],
  concurrency: 32,
  maxDeliver: 5,
  async handle(event, ctx) {
    if (event.data.changes.status?.new !== 'shipped') return;
    const order = event.data.key!.id;
    // Send the e-mail here. Redelivery is possible (at-least-once): key the e-mail by event.id.
    ctx.log.info(
      { order, version: event.data.version, attempt: ctx.attempt },
      'order shipped: e-mail the customer',
    );
  },
});
