-- Reports and the nightly job read sales by date range across every SKU (last year's window,
-- past promotions, the last sales date); the primary key starts with sku, so without this
-- index each such read scans the whole table. Bulk loads into an empty table drop it and
-- build it once afterwards (see store/bulk.rs).
CREATE INDEX sales_by_date ON sales (date);
