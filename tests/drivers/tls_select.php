<?php
// tls_select.php - PHP mysqli (mysqlnd, PHP's own protocol and TLS code) logs in over TLS,
// verifying the server's certificate against a CA file, and runs SELECT 1. Run by
// tests/integ/test_tls.c against a rebound listener that requires TLS, where a login that
// succeeds is a login over TLS.
//   php tls_select.php PORT USER PASSWORD CA_FILE
// Prints "mysqli tls: ok" and exits 0, or says what went wrong and exits 1.
mysqli_report(MYSQLI_REPORT_OFF);
[, $port, $user, $pw, $ca] = $argv;

$m = mysqli_init();
mysqli_options($m, MYSQLI_OPT_SSL_VERIFY_SERVER_CERT, true);
mysqli_ssl_set($m, null, null, $ca, null, null);
if (!@mysqli_real_connect($m, '127.0.0.1', $user, $pw, 'appdb', (int)$port, null,
                          MYSQLI_CLIENT_SSL)) {
    printf("mysqli tls: connect failed: %d %s\n", mysqli_connect_errno(), mysqli_connect_error());
    exit(1);
}
$r = mysqli_query($m, 'SELECT 1');
$row = $r ? mysqli_fetch_row($r) : null;
if (!$row || $row[0] != '1') {
    printf("mysqli tls: SELECT 1 failed: %d %s\n", mysqli_errno($m), mysqli_error($m));
    exit(1);
}
mysqli_close($m);
echo "mysqli tls: ok\n";
