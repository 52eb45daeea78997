# tls_select.py - PyMySQL (pure Python protocol, Python's ssl module) logs in over TLS,
# verifying the server's certificate and host name against a CA file, and runs SELECT 1. Run by
# tests/integ/test_tls.c against a rebound listener that requires TLS, where a login that
# succeeds is a login over TLS.
#   python3 tls_select.py PORT USER PASSWORD CA_FILE
# Prints "pymysql tls: ok" and exits 0, or says what went wrong and exits 1.
import sys

import pymysql


def main():
    port, user, password, ca = sys.argv[1:5]
    try:
        c = pymysql.connect(host='127.0.0.1', port=int(port), user=user, password=password,
                            database='appdb', ssl={'ca': ca}, connect_timeout=20,
                            read_timeout=20, write_timeout=20)
        with c.cursor() as cur:
            cur.execute('SELECT 1')
            row = cur.fetchone()
        c.close()
    except Exception as e:  # any failure is the test's failure: say what it was
        print(f'pymysql tls: {type(e).__name__}: {e}')
        return 1
    if row != (1,):
        print(f'pymysql tls: SELECT 1 returned {row!r}')
        return 1
    print('pymysql tls: ok')
    return 0


if __name__ == '__main__':
    sys.exit(main())
