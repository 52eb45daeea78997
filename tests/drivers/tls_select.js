// tls_select.js - node mysql2 logs in over TLS (node's TLS), verifying the server's certificate
// against a CA file, and runs SELECT 1. Run by tests/integ/test_tls.c, once
// tests/drivers/mysql2_install.sh has put mysql2 in NODE_PATH, against a rebound listener that
// requires TLS, where a login that succeeds is a login over TLS.
//   node tls_select.js PORT USER PASSWORD CA_FILE
// Prints "mysql2 tls: ok" and exits 0, or says what went wrong and exits 1.
'use strict';
const fs = require('fs');
const mysql = require('mysql2/promise');

const [port, user, password, caFile] = process.argv.slice(2);

async function main() {
  const c = await mysql.createConnection({
    host: '127.0.0.1',
    port: Number(port),
    user,
    password,
    database: 'appdb',
    ssl: {ca: fs.readFileSync(caFile)},
  });
  const [rows] = await c.query('SELECT 1 AS one');
  if (rows.length !== 1 || Number(rows[0].one) !== 1)
    throw new Error(`SELECT 1 returned ${JSON.stringify(rows)}`);
  await c.end();
  console.log('mysql2 tls: ok');
}

main().catch((e) => {
  console.log(`mysql2 tls: ${e.code || ''} ${e.errno || ''} ${e.message}`);
  process.exit(1);
});
