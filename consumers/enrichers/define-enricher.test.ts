import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { DeltaEvent } from '../../schemas/events.js';
import { factSubjectOf } from '../runtime/fact-lookup.js';
import { defineEnricher, envelope } from './define-enricher.js';
import { enricherJsonSchemas } from './enricher-schemas.js';
import { lastKeyedChange } from './facts-freshness.js';

const delta = (
  over: Partial<DeltaEvent['data']> = {},
  id = 'shop:000000000198cae8-00000000:delta',
): DeltaEvent => ({
  specversion: '1.0',
  id,
  source: 'sluice/shop',
  type: 'io.sluice.delta',
  time: '2026-12-01T01:00:00.000000Z',
  datacontenttype: 'application/json',
  data: {
    table: 'public.orders',
    key: { id: '7' },
    op: 'update',
    changes: { status: { old: 'pending', new: 'paid' } },
    version: '000000000198cae8-00000000',
    schemaVersion: 1,
    tx: { id: 1, lsn: '0/198CAE8', commitTime: '2026-12-01T01:00:00.000000Z', seq: 0 },
    ...over,
  },
});

const Paid = z.object({ orderId: z.string(), total: z.string() });
const base = {
  name: 'orders-out',
  domain: 'shop',
  tables: ['public.orders'],
  contracts: { 'order.paid': Paid },
  enrich: () => null,
};

describe('defineEnricher', () => {
  it.each([
    [{ domain: 'a.b' }, 'enricher orders-out: domain "a.b" is not one subject token.'],
    [{ domain: '' }, 'enricher orders-out: domain "" is not one subject token.'],
    [{ version: 0 }, 'enricher orders-out: version 0 is not a positive integer.'],
    [{ contracts: {} }, 'enricher orders-out: no contracts.'],
    [
      { contracts: { 'order paid': Paid } },
      'enricher orders-out: event type "order paid" is not dot-separated tokens of [A-Za-z0-9_-].',
    ],
    [
      { contracts: { 'order.paid': {} } },
      'enricher orders-out: the contract of "order.paid" is not a zod schema.',
    ],
    [{ tables: [] }, 'enricher orders-out: tables is empty.'],
    [
      { name: 'has space' },
      'consumer has space: name: expected 1–64 letters, digits, _ or - (it is a durable name and a subject token).',
    ],
  ])('refuses %j with one sentence', (over, message) => {
    expect(() => defineEnricher({ ...base, ...over } as never)).toThrow(message);
  });

  it('is a deltas consumer of whole transactions that carries its contracts', () => {
    const e = defineEnricher(base);
    expect(e).toMatchObject({
      kind: 'sluice.consumer',
      name: 'orders-out',
      from: 'deltas',
      tables: ['public.orders'],
    });
    expect(e.handleTransaction).toBeTypeOf('function');
    expect(e.enricher).toMatchObject({ domain: 'shop', version: 1 });
  });
});

describe('envelope', () => {
  const contracts = { 'order.paid': Paid };
  it('derives the id from the source delta and the type only, and stamps the contract', () => {
    const d = delta();
    const a = envelope(
      'orders-out',
      'shop',
      2,
      contracts,
      d,
      { type: 'order.paid', data: { orderId: '7', total: '1.00' }, subject: '7' },
      0,
    );
    const b = envelope(
      'orders-out',
      'shop',
      2,
      contracts,
      d,
      { type: 'order.paid', data: { orderId: '7', total: '9.99' } },
      0,
    );
    expect(a.id).toBe('orders-out:shop:000000000198cae8-00000000:delta:order.paid');
    expect(b.id).toBe(a.id);
    expect(
      envelope(
        'orders-out',
        'shop',
        2,
        contracts,
        d,
        { type: 'order.paid', data: { orderId: '7', total: '1' } },
        1,
      ).id,
    ).toBe(`${a.id}:1`);
    expect(a).toMatchObject({
      type: 'shop.order.paid',
      subject: '7',
      dataschema: 'urn:sluice:contract:shop.order.paid:v2',
      dataversion: 2,
      sourceevent: d.id,
      sourceversion: d.data.version,
      time: d.time,
    });
  });

  it.each([
    [
      { type: 'order.paid', data: { orderId: 7, total: '1' } },
      /breaks its contract at orderId: Invalid input: expected string, received number\./,
    ],
    [{ type: 'order.lost', data: {} }, /enrich returned type "order.lost", which has no contract\./],
  ])('refuses %j', (draft, message) => {
    expect(() => envelope('orders-out', 'shop', 1, contracts, delta(), draft, 0)).toThrow(message);
  });
});

describe('lastKeyedChange', () => {
  it.each([
    [[delta({ tx: { id: 1, lsn: '0/1', commitTime: '', seq: 0 } })], 0],
    [[delta(), delta({ op: 'truncate', key: {} })], 0],
    [[delta({ key: null, table: 'public.audit_log' })], -1],
    [[delta(), delta({ table: 'public.order_items', key: { order_id: '7', line_no: 2 } })], 1],
  ])('of %#', (events, index) => {
    expect(lastKeyedChange(events)).toBe(index < 0 ? null : events[index]);
  });
});

describe('factSubjectOf', () => {
  it.each([
    ['public.customers', { id: '4' }, 'cdc.fact.public.customers.4'],
    ['public.order_items', { order_id: '3', line_no: 1 }, 'cdc.fact.public.order_items.~WyIzIiwxXQ'],
    ['public.order_items', ['3', 1], 'cdc.fact.public.order_items.~WyIzIiwxXQ'],
  ])('%s %j → %s', (table, key, subject) => {
    expect(factSubjectOf('cdc', table, key)).toBe(subject);
  });
  it.each([
    ['orders', { id: '1' }, 'facts lookup: table "orders" is not schema.table.'],
    ['public.orders', {}, 'facts lookup on public.orders: empty key.'],
  ])('refuses %s %j', (table, key, message) => {
    expect(() => factSubjectOf('cdc', table, key)).toThrow(message);
  });
});

describe('enricherJsonSchemas', () => {
  it('refuses two enrichers defining one type', () => {
    const a = defineEnricher(base);
    const b = defineEnricher({ ...base, name: 'other' });
    expect(() => enricherJsonSchemas([a, b])).toThrow(
      'enrichers orders-out and other both define shop.order.paid.v1',
    );
  });
});
