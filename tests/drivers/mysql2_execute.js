// mysql2_execute.js - node mysql2's execute() (server-side prepared statements) against
// rebound's admin port, run by tests/integ/test_admin_stmt.c once mysql2_install.sh has put
// mysql2 in NODE_PATH: number, string, NULL and Date parameters on the servers, sessions and
// health_log tables, an UPDATE of admin_state, DESCRIBE, a statement re-executed from mysql2's
// cache, a wrong parameter count and the read-only user's write refused.
//   node mysql2_execute.js PORT ADMIN_PASSWORD VIEWER_PASSWORD
// Prints "mysql2: ok" and exits 0, or says what went wrong and exits 1.
'use strict';
const mysql = require('mysql2/promise');

const [port, adminPw, viewerPw] = process.argv.slice(2);

function check(cond, what) {
  if (!cond)
    throw new Error(what);
}

async function expectError(conn, sql, params, errno, what) {
  try {
    await conn.execute(sql, params);
  } catch (e) {
    check(e.errno === errno, `${what}: error ${e.errno} (${e.message}), expected ${errno}`);
    return;
  }
  throw new Error(`${what}: no error`);
}

async function main() {
  const opts = {host: '127.0.0.1', port: Number(port), user: 'admin', password: adminPw};
  const c = await mysql.createConnection(opts);

  let [rows] = await c.execute(
      'SELECT name, health, ? AS num, ? AS s, ? AS n, ? AS t FROM servers WHERE name = ?',
      [2.5, 'héllo', null, new Date(2024, 4, 1, 12, 34, 56), 'master']);
  check(rows.length === 1 && rows[0].name === 'master', 'one row for master');
  check(rows[0].health > 0, 'health');
  check(rows[0].num === 2.5 && rows[0].s === 'héllo' && rows[0].n === null, 'echoed values');
  check(String(rows[0].t).startsWith('2024-05-01 12:34:56'), `datetime: ${rows[0].t}`);

  [rows] = await c.execute('SELECT id, server, age_s FROM sessions WHERE server = ?',
                           ['rw/master']);
  check(rows.length >= 1 && typeof rows[0].age_s === 'number', 'a session on rw/master');
  [rows] = await c.execute('SELECT COUNT(*) AS n FROM health_log WHERE time >= ?',
                           [new Date(2000, 0, 1)]);
  check(rows[0].n >= 1, 'health-log events since 2000');

  // mysql2 caches the statement: the same text runs again with new values.
  for (let i = 0; i < 20; i++) {
    [rows] = await c.execute('SELECT ? + 1 AS v', [i]);
    check(rows[0].v === i + 1, `cached statement, run ${i}`);
  }

  let [res] = await c.execute('UPDATE servers SET admin_state = ? WHERE name = ?',
                              ['drain', 'replica1']);
  check(res.affectedRows === 1, 'UPDATE changed one row');
  [res] = await c.execute('UPDATE servers SET admin_state = ? WHERE name = ?',
                          ['ready', 'replica1']);
  check(res.affectedRows === 1, 'UPDATE back to ready');

  [rows] = await c.execute('DESCRIBE servers');
  check(rows.length === 31, 'DESCRIBE servers: 31 columns');

  await expectError(c, 'SELECT ? + ?', [1], 1835, 'one parameter for two');
  await expectError(c, 'CREATE TABLE t(a)', [], 1227, 'CREATE TABLE');
  [rows] = await c.execute('SELECT 1 AS one');
  check(rows[0].one === 1, 'the connection works after errors');
  await c.end();

  const v = await mysql.createConnection({...opts, user: 'viewer', password: viewerPw});
  await expectError(v, 'UPDATE servers SET admin_state = ? WHERE name = ?', ['drain', 'master'],
                    1142, 'viewer UPDATE');
  await v.end();
}

main().then(() => console.log('mysql2: ok'), (e) => {
  console.error(`mysql2: FAILED: ${e.message}`);
  process.exit(1);
});
