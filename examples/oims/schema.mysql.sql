-- OIMS, the reference inventory schema (MariaDB/MySQL). The hub's database
-- and any lab that already runs the app use it; a lab that joins with an
-- empty database gets these tables from the hub.
CREATE TABLE IF NOT EXISTS labs (
  id          VARCHAR(64) PRIMARY KEY,
  name        VARCHAR(200) NOT NULL,
  building    VARCHAR(200),
  updated_at  DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS categories (
  id          VARCHAR(64) PRIMARY KEY,
  name        VARCHAR(200) NOT NULL,
  parent_id   VARCHAR(64),
  updated_at  DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  FOREIGN KEY (parent_id) REFERENCES categories (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS items (
  id             VARCHAR(64) PRIMARY KEY,      -- a UUID, made by whoever creates the item
  lab_id         VARCHAR(64) NOT NULL,
  category_id    VARCHAR(64),
  name           VARCHAR(200) NOT NULL,
  serial_number  VARCHAR(100),
  quantity       INT NOT NULL DEFAULT 0,
  unit_price     DECIMAL(10, 2),
  status         VARCHAR(20) NOT NULL DEFAULT 'active',
  notes          TEXT,
  updated_at     DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  FOREIGN KEY (lab_id) REFERENCES labs (id),
  FOREIGN KEY (category_id) REFERENCES categories (id),
  INDEX items_lab (lab_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS stock_movements (
  id          VARCHAR(64) PRIMARY KEY,
  item_id     VARCHAR(64) NOT NULL,
  lab_id      VARCHAR(64) NOT NULL,
  delta       INT NOT NULL,
  reason      VARCHAR(200) NOT NULL,
  moved_at    DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  user_name   VARCHAR(100),
  FOREIGN KEY (item_id) REFERENCES items (id),
  FOREIGN KEY (lab_id) REFERENCES labs (id),
  INDEX movements_item (item_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The labs and categories the university manages centrally (direction down).
INSERT IGNORE INTO labs (id, name, building) VALUES
  ('lab-a', 'Chemistry Lab A', 'Science Hall'),
  ('lab-b', 'Biology Lab B', 'Life Sciences'),
  ('lab-c', 'Physics Lab C', 'Science Hall');
INSERT IGNORE INTO categories (id, name, parent_id) VALUES
  ('glassware', 'Glassware', NULL),
  ('reagents', 'Reagents', NULL),
  ('instruments', 'Instruments', NULL),
  ('pipettes', 'Pipettes', 'instruments');
