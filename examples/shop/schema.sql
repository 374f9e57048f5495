-- Sluice example shop: a conventional CRUD schema, written the way applications write theirs.
-- Idempotent (IF NOT EXISTS everywhere) so seeding can run it every time. Replica identities are
-- left at their defaults on purpose: Sluice must cope with what real databases have.
-- The column types are chosen to cover the connector's type mapping: bigserial/serial/identity/uuid
-- keys, a composite key, a table without a key, an enum, numeric with and without a typmod, jsonb,
-- text[], char(n), smallint, timestamptz, and a long text column that is TOASTed out of line.

DO $$
BEGIN
  CREATE TYPE public.order_status AS ENUM ('pending', 'paid', 'shipped', 'cancelled', 'delivered');
EXCEPTION
  WHEN duplicate_object THEN NULL;
END
$$;

CREATE TABLE IF NOT EXISTS public.customers (
  id bigserial PRIMARY KEY,
  email text NOT NULL UNIQUE,
  name text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS public.addresses (
  id serial PRIMARY KEY,
  customer_id bigint NOT NULL REFERENCES public.customers (id),
  lines text[] NOT NULL,
  city text NOT NULL,
  country char(2) NOT NULL
);
CREATE INDEX IF NOT EXISTS addresses_customer_id_idx ON public.addresses (customer_id);

CREATE TABLE IF NOT EXISTS public.products (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  sku text NOT NULL UNIQUE,
  name text NOT NULL,
  price numeric(12, 2) NOT NULL CHECK (price >= 0),
  attributes jsonb NOT NULL DEFAULT '{}',
  tags text[] NOT NULL DEFAULT '{}',
  -- Several KB per row: stored out of line in the TOAST table, so updates that do not touch it
  -- reach pgoutput as "unchanged TOAST" columns.
  description text
);

-- Quantity may go negative: the shop takes backorders rather than failing an order.
CREATE TABLE IF NOT EXISTS public.inventory (
  product_id uuid PRIMARY KEY REFERENCES public.products (id),
  quantity integer NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS public.orders (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  customer_id bigint NOT NULL REFERENCES public.customers (id),
  status public.order_status NOT NULL DEFAULT 'pending',
  total numeric(14, 2) NOT NULL,
  placed_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS orders_customer_id_idx ON public.orders (customer_id);

-- Items are deleted explicitly by the application (no ON DELETE CASCADE), as ORMs usually do.
CREATE TABLE IF NOT EXISTS public.order_items (
  order_id bigint NOT NULL REFERENCES public.orders (id),
  line_no smallint NOT NULL,
  product_id uuid NOT NULL REFERENCES public.products (id),
  quantity integer NOT NULL CHECK (quantity > 0),
  unit_price numeric NOT NULL,
  PRIMARY KEY (order_id, line_no)
);
CREATE INDEX IF NOT EXISTS order_items_product_id_idx ON public.order_items (product_id);

CREATE TABLE IF NOT EXISTS public.payments (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  order_id bigint NOT NULL REFERENCES public.orders (id),
  amount numeric(14, 2) NOT NULL,
  method text NOT NULL,
  paid_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS payments_order_id_idx ON public.payments (order_id);

-- Append-only and deliberately without a primary key: CDC gets inserts with no row identity.
CREATE TABLE IF NOT EXISTS public.audit_log (
  at timestamptz NOT NULL DEFAULT now(),
  actor text NOT NULL,
  action text NOT NULL,
  detail jsonb
);
