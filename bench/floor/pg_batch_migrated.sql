-- One batch of 256 holds as migrated: the stock row locked first, as the core locks it, and
-- one ledger row for the batch's holds on the row.
\set r random(1, 1000000000000)
BEGIN;
SET LOCAL synchronous_commit TO OFF;
WITH row AS (UPDATE inventory SET reserved = reserved + 256, ledger_seq = ledger_seq + 1
             WHERE sku = 'HOT-0000' AND warehouse = 'W1' RETURNING ledger_seq AS seq, reserved - 256 AS r0, on_hand),
holds AS (SELECT g, 'res_' || lpad(to_hex((extract(epoch from clock_timestamp())*1000)::bigint), 12, '0') || md5(:r::text || g::text) AS id FROM generate_series(1, 256) g),
ins AS (INSERT INTO reservations SELECT id, 'c' || g || '-' || :r, repeat('ab', 32), 'bench', 'held', now(), now() + interval '10 min', NULL,
        '[{"sku":"HOT-0000","warehouse":"W1","qty":1,"committed":0}]' FROM holds)
INSERT INTO inventory_events SELECT 'HOT-0000', 'W1', seq, now(), 'reserve', on_hand, on_hand, r0, r0 + 256, NULL, 'bench', ''
  FROM row;
COMMIT;
