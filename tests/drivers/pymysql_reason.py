#!/usr/bin/python3
# pymysql_reason.py PORT GOFILE - a PyMySQL session (autocommit, so that it sits idle outside a
# transaction) says which server it is on, waits (at most 2 minutes) until GOFILE exists, runs
# SELECT 1 and prints the error it got, then reconnects the way PyMySQL does (ping with
# reconnect) and says where it landed.
import os
import sys
import time

import pymysql

port, go = int(sys.argv[1]), sys.argv[2]
conn = pymysql.connect(host="127.0.0.1", port=port, user="app", password="app-pass",
                       database="appdb", autocommit=True, connect_timeout=10,
                       read_timeout=30, write_timeout=30)
cur = conn.cursor()
cur.execute("SELECT @@port")
print("before port", cur.fetchone()[0], flush=True)
deadline = time.monotonic() + 120
while not os.path.exists(go) and time.monotonic() < deadline:
    time.sleep(0.1)
try:
    cur.execute("SELECT 1")
    print("no error", flush=True)
except pymysql.err.MySQLError as e:
    print("error", e.args[0], "-", e.args[1] if len(e.args) > 1 else "", flush=True)
conn.ping(reconnect=True)
cur = conn.cursor()
cur.execute("SELECT @@port")
print("after port", cur.fetchone()[0], flush=True)
conn.close()
