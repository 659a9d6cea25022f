-- Where sales come from, and which rows count.
--
-- `sales.source` is 'import' for rows loaded from sales files and 'live' for units the
-- reservation core committed (dated the day of the commit). A retailer's nightly export
-- usually includes those web orders again, so the two must never be added up:
--   * ingested sales are authoritative for every date an ingested file covered;
--   * live rows count, provisionally, only for dates no ingested file has covered yet, and are
--     superseded (not deleted: `report reconciliation` compares them) once a file covers the
--     date;
--   * the nightly's as-of is the last date ingested files cover; live rows never move it.
--
-- A file covers the span from its first to its last accepted date (sales files hold only days
-- with sales, so a day inside the span with no row for a SKU is a day it sold nothing).
-- Ingest records one row per loaded sales file, in the load's transaction.
CREATE TABLE sales_coverage (
    ingest_run_id  TEXT PRIMARY KEY,
    first_date     DATE NOT NULL,
    last_date      DATE NOT NULL,
    CHECK (first_date <= last_date)
);

-- Databases loaded before this migration: their imported rows cover their own span.
INSERT INTO sales_coverage (ingest_run_id, first_date, last_date)
    SELECT 'before-0007', MIN(date), MAX(date) FROM sales WHERE source = 'import' GROUP BY source;

-- The rows every reader counts: the rule above, written once. Imported rows always; a live row
-- only while no ingested file covers its date.
CREATE VIEW sales_in_force AS
    SELECT s.sku, s.warehouse, s.date, s.source, s.units, s.price, s.promo_id
    FROM sales s
    WHERE s.source = 'import'
       OR NOT EXISTS (
           SELECT 1 FROM sales_coverage c WHERE s.date >= c.first_date AND s.date <= c.last_date
       );
