import { describe, expect, it } from 'vitest';
import { listSql, orderColumns, rowByKeySql, type ServedModel } from './model-queries.js';

const model: ServedModel = {
  name: 'lines',
  schema: 'read_models',
  key: ['order_id', 'line_no'],
  columns: [
    { name: 'order_id', sqlType: 'bigint', typname: 'int8', elemTypname: null },
    { name: 'line_no', sqlType: 'integer', typname: 'int4', elemTypname: null },
    { name: 'sku', sqlType: 'text', typname: 'text', elemTypname: null },
  ],
};

describe('model queries', () => {
  it('looks a row up by every key column, cast to the column type', () => {
    const st = rowByKeySql(model, ['7', '2']);
    expect(st.params).toEqual(['lines', '7', '2']);
    expect(st.text).toContain(`r."order_id" = $2::bigint AND r."line_no" = $3::integer`);
  });

  it.each([
    [null, ['order_id', 'line_no']],
    [{ column: 'sku', desc: false }, ['sku', 'order_id', 'line_no']],
    [{ column: 'line_no', desc: true }, ['order_id', 'line_no']],
  ])('orders by %j then the key', (order, cols) => {
    expect(orderColumns(model, order)).toEqual(cols);
  });

  it.each([
    [
      'by key',
      null,
      ['1', '2'],
      `(r."order_id", r."line_no") > ($2::bigint, $3::integer)`,
      'ORDER BY r."order_id" ASC, r."line_no" ASC',
    ],
    [
      'by a nullable column, descending',
      { column: 'sku', desc: true },
      ['b', '1', '2'],
      `(r."sku" < $4::text OR r."sku" IS NULL OR (r."sku" = $4::text AND (r."order_id", r."line_no") < ($2::bigint, $3::integer)))`,
      'ORDER BY r."sku" DESC NULLS LAST, r."order_id" DESC, r."line_no" DESC',
    ],
    [
      'after a NULL',
      { column: 'sku', desc: false },
      [null, '1', '2'],
      `(r."sku" IS NULL AND (r."order_id", r."line_no") > ($2::bigint, $3::integer))`,
      'ORDER BY r."sku" ASC NULLS LAST',
    ],
  ])('pages %s strictly after the cursor', (_why, order, after, where, orderBy) => {
    const st = listSql(model, { filters: [], order, limit: 10, after });
    expect(st.text).toContain(where);
    expect(st.text).toContain(orderBy);
    expect(st.params[st.params.length - 1]).toBe(11);
  });

  it('filters by equality with the value cast to the column type', () => {
    const st = listSql(model, { filters: [['sku', 'A-1']], order: null, limit: 5, after: null });
    expect(st.text).toContain(`WHERE r."sku" = $2::text`);
    expect(st.params).toEqual(['lines', 'A-1', 6]);
  });
});
