-- OIMS, the reference inventory schema (PostgreSQL). The hub's database and
-- any lab that already runs the app use it; a lab that joins with an empty
-- database gets these tables from the hub.
CREATE TABLE IF NOT EXISTS labs (
  id          TEXT PRIMARY KEY,
  name        TEXT NOT NULL,
  building    TEXT,
  updated_at  TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE IF NOT EXISTS categories (
  id          TEXT PRIMARY KEY,
  name        TEXT NOT NULL,
  parent_id   TEXT REFERENCES categories (id),
  updated_at  TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE IF NOT EXISTS items (
  id             TEXT PRIMARY KEY,            -- a UUID, made by whoever creates the item
  lab_id         TEXT NOT NULL REFERENCES labs (id),
  category_id    TEXT REFERENCES categories (id),
  name           TEXT NOT NULL,
  serial_number  TEXT,
  quantity       INTEGER NOT NULL DEFAULT 0,
  unit_price     NUMERIC(10, 2),
  status         TEXT NOT NULL DEFAULT 'active',
  notes          TEXT,
  updated_at     TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE IF NOT EXISTS stock_movements (
  id          TEXT PRIMARY KEY,
  item_id     TEXT NOT NULL REFERENCES items (id),
  lab_id      TEXT NOT NULL REFERENCES labs (id),
  delta       INTEGER NOT NULL,
  reason      TEXT NOT NULL,
  moved_at    TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  user_name   TEXT
);

CREATE INDEX IF NOT EXISTS items_lab ON items (lab_id);
CREATE INDEX IF NOT EXISTS movements_item ON stock_movements (item_id);

-- The labs and categories the university manages centrally (direction down).
INSERT INTO labs (id, name, building) VALUES
  ('lab-a', 'Chemistry Lab A', 'Science Hall'),
  ('lab-b', 'Biology Lab B', 'Life Sciences'),
  ('lab-c', 'Physics Lab C', 'Science Hall')
ON CONFLICT DO NOTHING;
INSERT INTO categories (id, name, parent_id) VALUES
  ('glassware', 'Glassware', NULL),
  ('reagents', 'Reagents', NULL),
  ('instruments', 'Instruments', NULL),
  ('pipettes', 'Pipettes', 'instruments')
ON CONFLICT DO NOTHING;
