// SQLite's own floor per hold, with no stockcast, sqlx or Rust: the writes one hold makes (a
// reservation row with its indexes, and ledger rows), as prepared single-row inserts, BATCH holds per BEGIN IMMEDIATE transaction
// (256 = one hold per bench client), WAL with synchronous=NORMAL, on one thread for 8 s.
// Idempotency keys follow the bench's "{run}-{client}-{seq}" shape, or are random with
// RANDOM_KEYS=1 (what clients sending UUIDs produce).
//
//   usage: sqlite_floor MODE [BATCH] [WAL_AUTOCHECKPOINT_PAGES]
//   MODE   migrated  the schema as migrated (migrations/sqlite/0010): no index on
//                 idempotency_key, and one ledger row per batch for its holds on the row
//          full   the layout before it (migrations/0004): a UNIQUE index on
//                 idempotency_key and one ledger row per hold
//          nokey  full without the UNIQUE index on idempotency_key
//          lean   reservations keyed by an integer rowid with no index on the text id (the
//                 public id would have to embed the row id), ledger WITHOUT ROWID
//          lean_nokey  lean, and without the idempotency-key index
// Prints one line: mode, batch, checkpoint, holds/s.
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double seconds_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void check(int rc, sqlite3 *db) {
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
        fprintf(stderr, "sqlite: %s\n", sqlite3_errmsg(db));
        exit(1);
    }
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s migrated|full|nokey|lean|lean_nokey [BATCH] [CHECKPOINT_PAGES]\n", argv[0]);
        return 2;
    }
    const char *mode = argv[1];
    int batch = argc > 2 ? atoi(argv[2]) : 256;
    int checkpoint_pages = argc > 3 ? atoi(argv[3]) : 1000;
    int lean = strncmp(mode, "lean", 4) == 0;
    int migrated = strcmp(mode, "migrated") == 0;
    int key_index = strstr(mode, "nokey") == NULL && !migrated;
    int random_keys = getenv("RANDOM_KEYS") != NULL;
    const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char path[512], scratch[600], sql[1024];
    snprintf(path, sizeof path, "%s/stockcast_sqlite_floor.db", dir);
    remove(path);
    snprintf(scratch, sizeof scratch, "%s-wal", path);
    remove(scratch);
    snprintf(scratch, sizeof scratch, "%s-shm", path);
    remove(scratch);

    sqlite3 *db;
    check(sqlite3_open(path, &db), db);
    snprintf(sql, sizeof sql,
             "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-65536;"
             "PRAGMA wal_autocheckpoint=%d;", checkpoint_pages);
    check(sqlite3_exec(db, sql, 0, 0, 0), db);
    snprintf(sql, sizeof sql,
             "CREATE TABLE reservations (%s id TEXT %s, idempotency_key TEXT NOT NULL %s, "
             "request_hash TEXT, who TEXT, status TEXT, created_at TEXT, expires_at TEXT, "
             "finished_at TEXT, lines TEXT);"
             "CREATE INDEX reservations_due ON reservations (status, expires_at);"
             "CREATE TABLE inventory_events (sku TEXT, warehouse TEXT, seq INTEGER, at TEXT, "
             "kind TEXT, on_hand_before INT, on_hand_after INT, reserved_before INT, "
             "reserved_after INT, reservation_id TEXT, who TEXT, reason TEXT, "
             "PRIMARY KEY (sku, warehouse, seq)) %s;",
             lean ? "row INTEGER PRIMARY KEY," : "", lean ? "" : "PRIMARY KEY",
             key_index ? "UNIQUE" : "", lean ? "WITHOUT ROWID" : "");
    check(sqlite3_exec(db, sql, 0, 0, 0), db);

    sqlite3_stmt *insert_reservation, *insert_event;
    check(sqlite3_prepare_v2(db,
                             "INSERT INTO reservations (id, idempotency_key, request_hash, who, "
                             "status, created_at, expires_at, finished_at, lines) "
                             "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                             -1, &insert_reservation, 0), db);
    check(sqlite3_prepare_v2(db,
                             "INSERT INTO inventory_events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                             -1, &insert_event, 0), db);

    static long next_seq_of_client[256];
    unsigned long random_state = 88172645463325252UL;
    long seq = 0, holds = 0;
    double started = seconds_now();
    while (seconds_now() - started < 8.0) {
        check(sqlite3_exec(db, "BEGIN IMMEDIATE", 0, 0, 0), db);
        for (int i = 0; i < batch; i++) {
            seq++;
            random_state ^= random_state << 13;
            random_state ^= random_state >> 7;
            random_state ^= random_state << 17;
            char id[64], key[64];
            int client = i % 256;
            snprintf(id, sizeof id, "res_%012lx%020lx",
                     (unsigned long)(started * 1000) + (unsigned long)seq / 1000,
                     random_state & 0xffffffffffffUL);
            if (random_keys)
                snprintf(key, sizeof key, "%016lx%016lx", random_state,
                         random_state * 2654435761UL);
            else
                snprintf(key, sizeof key, "0-%d-%ld", client, next_seq_of_client[client]++);
            sqlite3_stmt *r = insert_reservation;
            sqlite3_bind_text(r, 1, id, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(r, 2, key, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(r, 3, "5d41402abc4b2a76b9719d911017c5925d41402abc4b2a76b9719d911017c592", -1, SQLITE_STATIC);
            sqlite3_bind_text(r, 4, "bench", -1, SQLITE_STATIC);
            sqlite3_bind_text(r, 5, "held", -1, SQLITE_STATIC);
            sqlite3_bind_text(r, 6, "2026-11-28T09:00:00.123456Z", -1, SQLITE_STATIC);
            sqlite3_bind_text(r, 7, "2026-11-28T09:10:00.123456Z", -1, SQLITE_STATIC);
            sqlite3_bind_null(r, 8);
            sqlite3_bind_text(r, 9, "[{\"sku\":\"HOT-0000\",\"warehouse\":\"W1\",\"qty\":1,\"committed\":0}]", -1, SQLITE_STATIC);
            check(sqlite3_step(r), db);
            sqlite3_reset(r);
            // The migrated layout writes the batch's one ledger row after its holds.
            if (migrated && i < batch - 1) continue;
            sqlite3_stmt *e = insert_event;
            sqlite3_bind_text(e, 1, "HOT-0000", -1, SQLITE_STATIC);
            sqlite3_bind_text(e, 2, "W1", -1, SQLITE_STATIC);
            sqlite3_bind_int64(e, 3, seq);
            sqlite3_bind_text(e, 4, "2026-11-28T09:00:00.123456Z", -1, SQLITE_STATIC);
            sqlite3_bind_text(e, 5, "reserve", -1, SQLITE_STATIC);
            sqlite3_bind_int64(e, 6, 1000000000);
            sqlite3_bind_int64(e, 7, 1000000000);
            sqlite3_bind_int64(e, 8, migrated ? seq - batch : seq - 1);
            sqlite3_bind_int64(e, 9, seq);
            if (migrated)
                sqlite3_bind_null(e, 10);
            else
                sqlite3_bind_text(e, 10, id, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(e, 11, "bench", -1, SQLITE_STATIC);
            sqlite3_bind_text(e, 12, "", -1, SQLITE_STATIC);
            check(sqlite3_step(e), db);
            sqlite3_reset(e);
        }
        check(sqlite3_exec(db, "COMMIT", 0, 0, 0), db);
        holds += batch;
    }
    printf("%s batch=%d checkpoint=%d%s %.0f holds/s (SQLite %s)\n", mode, batch,
           checkpoint_pages, random_keys ? " random-keys" : "",
           holds / (seconds_now() - started), sqlite3_libversion());
    sqlite3_close(db);
    return 0;
}
