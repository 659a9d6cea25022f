#!/usr/bin/env python3
"""The floor of SQLite's own work per hold, without stockcast or sqlx: one reservation row and
one ledger row per hold (the schema of migrations/0004), inserted in batches of 128 per
transaction for 8 s, WAL with synchronous=NORMAL, single thread. Prints holds/s.

    python3 bench/sqlite_floor.py 4096          # page size 4096, with the idempotency-key index
    python3 bench/sqlite_floor.py 4096 nokey    # the same without that index
"""
import sqlite3, time, os, random, sys, json
ps=int(sys.argv[1]); nokey = len(sys.argv)>2
path=os.path.join(os.environ.get('TMPDIR', '/tmp'), f'stockcast_sqlite_floor_{ps}.db')
for suf in ['','-wal','-shm']:
    try: os.remove(path+suf)
    except FileNotFoundError: pass
c=sqlite3.connect(path, isolation_level=None)
c.execute(f'pragma page_size={ps}')
c.execute('pragma journal_mode=wal'); c.execute('pragma synchronous=normal'); c.execute('pragma cache_size=-16384'); c.execute('pragma wal_autocheckpoint=16384')
c.execute(f"create table reservations (id text primary key, idempotency_key text not null {'' if nokey else 'unique'}, request_hash text, who text, status text, created_at text, expires_at text, finished_at text, lines text)")
c.execute("create index reservations_due on reservations(status, expires_at)")
c.execute("create table inventory_events (sku text, warehouse text, seq integer, at text, kind text, a int, b int, c int, d int, reservation_id text, who text, reason text, primary key (sku, warehouse, seq))")
seq=0; n=0; t0=time.time(); B=128
while time.time()-t0 < 8:
    c.execute('begin immediate')
    rows=[]; ev=[]
    for i in range(B):
        seq+=1
        rid='res_%012x%020x'%(int(time.time()*1000), random.getrandbits(80))
        rows.append((rid, 'c0-%d-%d'%(random.randrange(256), seq), 'ab'*16, 'bench','held','2026-11-28T09:00:00.123456Z','2026-11-28T10:00:00.123456Z',None,'[{"sku":"HOT-0000","warehouse":"W1","qty":1,"committed":0}]'))
        ev.append(('HOT-0000','W1',seq,'2026-11-28T09:00:00.123456Z','reserve',1,1,1,2,rid,'bench',''))
    c.executemany('insert into reservations values (?,?,?,?,?,?,?,?,?)', rows)
    c.executemany('insert into inventory_events values (?,?,?,?,?,?,?,?,?,?,?,?)', ev)
    c.execute('commit'); n+=B
print(ps, 'nokey' if nokey else 'key', round(n/(time.time()-t0)), 'holds/s')
