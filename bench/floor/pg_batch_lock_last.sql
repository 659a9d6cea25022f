-- One batch of 256 holds with the stock row locked last: a bound, not what the core can do.
\set r random(1, 1000000000000)
BEGIN;
SET LOCAL synchronous_commit TO OFF;
CREATE TEMP TABLE IF NOT EXISTS h (g int, id text) ON COMMIT DELETE ROWS;
INSERT INTO h SELECT g, 'res_' || lpad(to_hex((extract(epoch from clock_timestamp())*1000)::bigint), 12, '0') || md5(:r::text || g::text) FROM generate_series(1, 256) g;
INSERT INTO reservations SELECT id, 'c' || g || '-' || :r, repeat('ab', 32), 'bench', 'held', now(), now() + interval '10 min', NULL,
        '[{"sku":"HOT-0000","warehouse":"W1","qty":1,"committed":0}]' FROM h;
WITH row AS (UPDATE inventory SET reserved = reserved + 256, ledger_seq = ledger_seq + 256
             WHERE sku = 'HOT-0000' AND warehouse = 'W1' RETURNING ledger_seq - 256 AS seq0, reserved - 256 AS r0, on_hand)
INSERT INTO inventory_events SELECT 'HOT-0000', 'W1', seq0 + g, now(), 'reserve', on_hand, on_hand, r0 + g - 1, r0 + g, id, 'bench', ''
  FROM h, row;
COMMIT;
