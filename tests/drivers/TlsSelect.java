// TlsSelect.java - MariaDB Connector/J logs in over TLS (Java's own TLS), verifying the server's
// certificate against a CA file (useSsl with serverSslCert: the chain and the host name), and
// runs SELECT 1. Run by tests/integ/test_tls.c against a rebound listener that requires TLS,
// where a login that succeeds is a login over TLS.
//
// Usage: java -cp CLASSES:mariadb-java-client.jar TlsSelect PORT USER PASSWORD CA_FILE
// Prints "connector/j tls: ok" and exits 0, or "FAIL ..." and exits 1.
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;

public class TlsSelect {
    public static void main(String[] args) {
        String url = "jdbc:mariadb://127.0.0.1:" + args[0] + "/appdb?useSsl=true&serverSslCert="
                + args[3] + "&connectTimeout=20000&socketTimeout=20000";
        try (Connection c = DriverManager.getConnection(url, args[1], args[2]);
                Statement st = c.createStatement();
                ResultSet rs = st.executeQuery("SELECT 1")) {
            if (!rs.next() || rs.getInt(1) != 1) {
                System.out.println("FAIL SELECT 1 returned no 1");
                System.exit(1);
            }
        } catch (Exception e) {
            System.out.println("FAIL " + e);
            System.exit(1);
        }
        System.out.println("connector/j tls: ok");
    }
}
