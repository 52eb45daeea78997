<?php
// mysqli_stmt.php - PHP mysqli prepared statements against rebound's admin port, run by
// tests/integ/test_admin_stmt.c: integer, double, string and NULL parameters on the servers,
// sessions and health_log tables, get_result() and bind_result(), an UPDATE of admin_state
// whose effect a text query sees, a read-only cursor, DESCRIBE, and the read-only user's write
// refused.
//   php mysqli_stmt.php PORT ADMIN_PASSWORD VIEWER_PASSWORD
// Prints "mysqli: ok" and exits 0, or says what went wrong and exits 1.

mysqli_report(MYSQLI_REPORT_ERROR | MYSQLI_REPORT_STRICT);

function check($cond, $what)
{
    if (!$cond) {
        fwrite(STDERR, "mysqli: FAILED: $what\n");
        exit(1);
    }
}

[, $port, $admin_pw, $viewer_pw] = $argv;
try {
    $m = new mysqli('127.0.0.1', 'admin', $admin_pw, '', (int)$port);

    // servers: an integer, a double, a string and a NULL in; typed values out.
    $st = $m->prepare('SELECT name, health, ? AS i, ? AS d, ? AS s, ? AS n FROM servers ' .
                      'WHERE name = ?');
    $i = 42; $d = 2.5; $s = 'héllo'; $n = null; $name = 'master';
    $st->bind_param('idsss', $i, $d, $s, $n, $name);
    $st->execute();
    $rows = $st->get_result()->fetch_all(MYSQLI_ASSOC);
    check(count($rows) === 1, 'one row for master, got ' . count($rows));
    $r = $rows[0];
    check($r['name'] === 'master', 'name');
    check(is_int($r['health']) && $r['health'] > 0, 'health is a positive integer');
    check($r['i'] === 42, 'integer parameter');
    check($r['d'] === 2.5, 'double parameter');
    check($r['s'] === 'héllo', 'string parameter');
    check($r['n'] === null, 'NULL parameter');
    // The same statement again, other values: the parameter types are sent once.
    $name = 'replica1'; $i = -7;
    $st->execute();
    $r = $st->get_result()->fetch_assoc();
    check($r['name'] === 'replica1' && $r['i'] === -7, 'second execution');
    $st->close();

    // sessions and health_log, with bind_result().
    $st = $m->prepare('SELECT COUNT(*) FROM sessions WHERE server = ? AND age_s >= ?');
    $srv = 'rw/master'; $age = 0.0;
    $st->bind_param('sd', $srv, $age);
    $st->execute();
    $st->bind_result($count);
    check($st->fetch() === true && is_int($count) && $count >= 1, 'a session on rw/master');
    $st->close();
    $st = $m->prepare('SELECT COUNT(*) FROM health_log WHERE time >= ?');
    $since = '2000-01-01 00:00:00';
    $st->bind_param('s', $since);
    $st->execute();
    $st->bind_result($events);
    check($st->fetch() === true && $events >= 1, 'health-log events since 2000');
    $st->close();

    // A write, seen by a text query; and back.
    $st = $m->prepare('UPDATE servers SET admin_state = ? WHERE name = ?');
    $state = 'drain'; $name = 'replica1';
    $st->bind_param('ss', $state, $name);
    $st->execute();
    check($st->affected_rows === 1, 'UPDATE changed one row');
    $now = $m->query("SELECT admin_state FROM servers WHERE name = 'replica1'")->fetch_row()[0];
    check($now === 'drain', "admin_state is drain, not $now");
    $state = 'ready';
    $st->execute();
    check($st->affected_rows === 1, 'UPDATE back to ready');
    $st->close();

    // A read-only cursor, fetched a row at a time, twice.
    $st = $m->prepare('SELECT name FROM servers WHERE name LIKE ? ORDER BY name');
    $st->attr_set(MYSQLI_STMT_ATTR_CURSOR_TYPE, MYSQLI_CURSOR_TYPE_READ_ONLY);
    $st->attr_set(MYSQLI_STMT_ATTR_PREFETCH_ROWS, 1);
    $like = '%';
    $st->bind_param('s', $like);
    for ($run = 0; $run < 2; $run++) {
        $st->execute();
        $st->bind_result($got);
        $names = [];
        while ($st->fetch())
            $names[] = $got;
        check($names === ['master', 'replica1'], 'cursor rows: ' . implode(',', $names));
    }
    $st->close();

    // A shortcut whose columns only its execution tells.
    $st = $m->prepare('DESCRIBE servers');
    $st->execute();
    check($st->get_result()->num_rows === 31, 'DESCRIBE servers: 31 columns');
    $st->close();
    $m->close();

    // The read-only user cannot prepare a write.
    $v = new mysqli('127.0.0.1', 'viewer', $viewer_pw, '', (int)$port);
    try {
        $v->prepare('UPDATE servers SET admin_state = ? WHERE name = ?');
        check(false, 'the viewer prepared an UPDATE');
    } catch (mysqli_sql_exception $e) {
        check($e->getCode() === 1142, 'viewer UPDATE: error ' . $e->getCode());
    }
    $v->close();
} catch (mysqli_sql_exception $e) {
    check(false, 'error ' . $e->getCode() . ': ' . $e->getMessage());
}
echo "mysqli: ok\n";
