import { beforeAll, describe, expect, it } from 'vitest';
import { analyzeModel, UnsupportedSqlError } from './sql-analysis.js';
import { loadSqlParser } from './sql-parser.js';
import { customer360, orderSummary, productStock } from '../../examples/shop/read-models.js';

beforeAll(async () => {
  await loadSqlParser();
});

/** Restricted SQL of each occurrence on one line, placeholders shown as `<changed>`. */
function restricted(sql: string, key: string[]): string[] {
  return analyzeModel(sql, key).restricted.map((r) =>
    r.sql.replaceAll(r.placeholder, '<changed>').replace(/\s+/g, ' ').trim(),
  );
}

const customerList = `SELECT cu.customer_id AS id, cu.first_name || ' ' || cu.last_name AS name, a.phone, city.city, country.country
      FROM customer cu JOIN address a ON cu.address_id = a.address_id
      JOIN city ON a.city_id = city.city_id JOIN country ON city.country_id = country.country_id`;

describe('analyzeModel: restricted queries', () => {
  it.each([
    {
      what: "the issue's customer_list (four inner joins)",
      sql: customerList,
      key: ['id'],
      want: [
        'SELECT DISTINCT cu.customer_id AS id FROM <changed> AS cu JOIN public.address AS a ON cu.address_id = a.address_id JOIN public.city ON a.city_id = city.city_id JOIN public.country ON city.country_id = country.country_id',
        'SELECT DISTINCT cu.customer_id AS id FROM public.customer AS cu JOIN <changed> AS a ON cu.address_id = a.address_id JOIN public.city ON a.city_id = city.city_id JOIN public.country ON city.country_id = country.country_id',
        'SELECT DISTINCT cu.customer_id AS id FROM public.customer AS cu JOIN public.address AS a ON cu.address_id = a.address_id JOIN <changed> AS city ON a.city_id = city.city_id JOIN public.country ON city.country_id = country.country_id',
        'SELECT DISTINCT cu.customer_id AS id FROM public.customer AS cu JOIN public.address AS a ON cu.address_id = a.address_id JOIN public.city ON a.city_id = city.city_id JOIN <changed> AS country ON city.country_id = country.country_id',
      ],
    },
    {
      what: 'a left join: the nullable side restricted becomes an inner join, the preserved side stays left',
      sql: 'SELECT c.id, count(o.id) AS n FROM customers c LEFT JOIN orders o ON o.customer_id = c.id GROUP BY c.id HAVING count(o.id) > 2',
      key: ['id'],
      want: [
        'SELECT DISTINCT c.id AS id FROM <changed> AS c LEFT JOIN public.orders AS o ON o.customer_id = c.id',
        'SELECT DISTINCT c.id AS id FROM public.customers AS c JOIN <changed> AS o ON o.customer_id = c.id',
      ],
    },
    {
      what: 'a right join mirrors the left join',
      sql: 'SELECT c.id, o.id AS oid FROM orders o RIGHT JOIN customers c ON o.customer_id = c.id',
      key: ['id', 'oid'].slice(0, 1),
      want: [
        'SELECT DISTINCT c.id AS id FROM <changed> AS o JOIN public.customers AS c ON o.customer_id = c.id',
        'SELECT DISTINCT c.id AS id FROM public.orders AS o RIGHT JOIN <changed> AS c ON o.customer_id = c.id',
      ],
    },
    {
      what: 'an anti-join: the IS NULL filter is dropped so the key of a row that gains a match is found',
      sql: 'SELECT c.id, c.name FROM customers c LEFT JOIN orders o ON o.customer_id = c.id WHERE o.id IS NULL',
      key: ['id'],
      want: [
        'SELECT DISTINCT c.id AS id FROM <changed> AS c LEFT JOIN public.orders AS o ON o.customer_id = c.id',
        'SELECT DISTINCT c.id AS id FROM public.customers AS c JOIN <changed> AS o ON o.customer_id = c.id',
      ],
    },
    {
      what: 'comma joins: the equi-join in WHERE is kept, the other filters dropped',
      sql: "SELECT o.id, c.name FROM orders o, customers c WHERE o.customer_id = c.id AND o.status = 'paid' AND c.name LIKE 'A%'",
      key: ['id'],
      want: [
        'SELECT DISTINCT o.id AS id FROM <changed> AS o, public.customers AS c WHERE o.customer_id = c.id',
        'SELECT DISTINCT o.id AS id FROM public.orders AS o, <changed> AS c WHERE o.customer_id = c.id',
      ],
    },
    {
      what: 'a self-join: each occurrence restricted on its own',
      sql: 'SELECT e.id, m.name AS manager FROM staff e JOIN staff m ON m.id = e.manager_id',
      key: ['id'],
      want: [
        'SELECT DISTINCT e.id AS id FROM <changed> AS e JOIN public.staff AS m ON m.id = e.manager_id',
        'SELECT DISTINCT e.id AS id FROM public.staff AS e JOIN <changed> AS m ON m.id = e.manager_id',
      ],
    },
    {
      what: 'a composite key and a schema-qualified table',
      sql: 'SELECT i.order_id, i.line_no, p.name FROM sales.order_items i JOIN products p ON p.id = i.product_id',
      key: ['order_id', 'line_no'],
      want: [
        'SELECT DISTINCT i.order_id AS order_id, i.line_no AS line_no FROM <changed> AS i JOIN public.products AS p ON p.id = i.product_id',
        'SELECT DISTINCT i.order_id AS order_id, i.line_no AS line_no FROM sales.order_items AS i JOIN <changed> AS p ON p.id = i.product_id',
      ],
    },
    {
      what: 'an expression key and a quoted output name',
      sql: `SELECT a.city || ',' || a.country AS "city, country", count(*) AS "zip code" FROM addresses a GROUP BY 1`,
      key: ['city, country'],
      want: [`SELECT DISTINCT (a.city || ',') || a.country AS "city, country" FROM <changed> AS a`],
    },
    {
      what: 'an unaliased single table with a filter: the filter is dropped',
      sql: 'SELECT id, name FROM customers WHERE id > 10 ORDER BY name',
      key: ['id'],
      want: ['SELECT DISTINCT id AS id FROM <changed> AS customers'],
    },
    {
      what: 'nested joins: only the outer joins on the path to the occurrence become inner',
      sql: 'SELECT o.id, p.name FROM orders o LEFT JOIN order_items i ON i.order_id = o.id LEFT JOIN products p ON p.id = i.product_id',
      key: ['id'].map(() => 'id'),
      want: [
        'SELECT DISTINCT o.id AS id FROM <changed> AS o LEFT JOIN public.order_items AS i ON i.order_id = o.id LEFT JOIN public.products AS p ON p.id = i.product_id',
        'SELECT DISTINCT o.id AS id FROM public.orders AS o JOIN <changed> AS i ON i.order_id = o.id LEFT JOIN public.products AS p ON p.id = i.product_id',
        'SELECT DISTINCT o.id AS id FROM public.orders AS o LEFT JOIN public.order_items AS i ON i.order_id = o.id JOIN <changed> AS p ON p.id = i.product_id',
      ],
    },
  ])('$what', ({ sql, key, want }) => {
    expect(restricted(sql, key)).toEqual(want);
  });
});

describe('analyzeModel: tables, occurrences and join graph', () => {
  it('self-join: two occurrences of one table, one base table', () => {
    const p = analyzeModel('SELECT e.id FROM staff e JOIN staff m ON m.id = e.manager_id', ['id']);
    expect(p.tables).toEqual([{ schema: 'public', table: 'staff' }]);
    expect(p.occurrences.map((o) => [o.alias, o.nullable])).toEqual([
      ['e', false],
      ['m', false],
    ]);
    expect(p.joins).toEqual([{ aliases: ['e', 'm'], kind: 'inner', condition: 'm.id = e.manager_id' }]);
  });

  it.each([
    {
      model: orderSummary,
      tables: ['orders', 'customers', 'order_items', 'products'],
      nullable: [false, false, true, true],
      joins: ['inner c,o', 'left i,o', 'left i,p'],
    },
    { model: customer360, tables: ['customers', 'orders'], nullable: [false, true], joins: ['left c,o'] },
    {
      model: productStock,
      tables: ['products', 'inventory', 'order_items'],
      nullable: [false, true, true],
      joins: ['left inv,p', 'left i,p'],
    },
  ])('shop model $model.name', ({ model, tables, nullable, joins }) => {
    const p = analyzeModel(model.sql, model.key);
    expect(p.tables.map((t) => t.table)).toEqual(tables);
    expect(p.occurrences.map((o) => o.nullable)).toEqual(nullable);
    expect(p.joins.map((j) => `${j.kind} ${j.aliases.join(',')}`)).toEqual(joins);
    expect(p.restricted).toHaveLength(tables.length);
    for (const r of p.restricted) {
      expect(r.sql).toContain(r.placeholder);
      expect(r.sql).not.toMatch(/GROUP BY|HAVING|count\(|sum\(/);
    }
  });

  it('the customer_list example reads four tables joined in a chain', () => {
    const p = analyzeModel(customerList, ['id']);
    expect(p.tables.map((t) => `${t.schema}.${t.table}`)).toEqual([
      'public.customer',
      'public.address',
      'public.city',
      'public.country',
    ]);
    expect(p.joins.map((j) => j.aliases.join('-'))).toEqual(['a-cu', 'a-city', 'city-country']);
  });
});

describe('analyzeModel: refusals name the construct and the reason', () => {
  it.each([
    [
      'SELECT c.id, row_number() OVER (ORDER BY c.id) AS n FROM customers c',
      ['id'],
      /window function row_number/,
    ],
    ['SELECT id FROM customers LIMIT 10', ['id'], /LIMIT\/OFFSET is not supported/],
    ['SELECT id FROM customers OFFSET 10', ['id'], /LIMIT\/OFFSET/],
    ['SELECT DISTINCT ON (name) id, name FROM customers', ['id'], /DISTINCT ON/],
    ['SELECT id FROM customers UNION SELECT id FROM orders', ['id'], /UNION \(a set operation\)/],
    ['SELECT id FROM customers EXCEPT SELECT customer_id FROM orders', ['id'], /EXCEPT/],
    ['SELECT id, now() AS t FROM customers', ['id'], /now\(\) is not supported.*not deterministic/],
    ['SELECT id, random() AS r FROM customers', ['id'], /random\(\)/],
    ['SELECT id FROM customers WHERE created_at > current_date', ['id'], /CURRENT_DATE/],
    [
      'SELECT c.id, (SELECT count(*) FROM orders o WHERE o.customer_id = c.id) AS n FROM customers c',
      ['id'],
      /a subquery in the select list/,
    ],
    [
      'SELECT c.id FROM customers c WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id)',
      ['id'],
      /a subquery in WHERE/,
    ],
    ['SELECT x.id FROM (SELECT id FROM customers) x', ['id'], /a subquery in FROM/],
    ['WITH x AS (SELECT id FROM customers) SELECT id FROM x', ['id'], /WITH/],
    ['SELECT * FROM customers', ['id'], /SELECT \*/],
    ['SELECT count(*) AS n FROM customers', ['n'], /aggregate without GROUP BY/],
    ['SELECT a.id FROM customers a FULL JOIN orders b ON a.id = b.customer_id', ['id'], /FULL JOIN/],
    ['SELECT id FROM customers FOR UPDATE', ['id'], /FOR UPDATE/],
    ['UPDATE customers SET name = 1', ['id'], /UPDATE is not supported.*a read model is a SELECT/],
    ['SELECT id FROM customers; SELECT id FROM orders', ['id'], /2 statements/],
    ['SELEC id FROM customers', ['id'], /does not parse at character 1/],
    ['SELECT id, name FROM customers', ['nope'], /key column "nope".*outputs: id, name/],
    ['SELECT c.id, count(*) AS n FROM customers c GROUP BY c.id', ['n'], /key column "n".*aggregate/],
    [
      'SELECT o.id, c.name FROM customers c LEFT JOIN orders o ON o.customer_id = c.id',
      ['id'],
      /key column "id".*nullable side/,
    ],
    ['SELECT id, c.name FROM customers c LEFT JOIN orders o ON o.customer_id = c.id', ['id'], /qualified/],
    ['SELECT id, generate_series(1, 2) AS g FROM generate_series(1, 3) id', ['id'], /a function in FROM/],
    ['SELECT id FROM customers WHERE id = $1', ['id'], /parameter/],
    ['SELECT id, 1 + 1 FROM customers', ['id'], /output column 2 without a name/],
  ])('%s', (sql, key, reason) => {
    let err: unknown;
    try {
      analyzeModel(sql, key);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UnsupportedSqlError);
    expect((err as Error).message).toMatch(reason);
  });
});
