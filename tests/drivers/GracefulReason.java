// GracefulReason PORT GOFILE - a MariaDB Connector/J session says which server it is on, waits
// (at most 2 minutes) until GOFILE exists, runs SELECT 1 and prints the SQLException it got
// (error code, SQLState, message), then opens a new connection and says where it landed.
import java.nio.file.Files;
import java.nio.file.Paths;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;

public class GracefulReason {
    static int port(Connection c) throws SQLException {
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT @@port")) {
            rs.next();
            return rs.getInt(1);
        }
    }

    public static void main(String[] args) throws Exception {
        String url = "jdbc:mariadb://127.0.0.1:" + args[0] + "/appdb?user=app&password=app-pass"
                + "&connectTimeout=10000&socketTimeout=30000";
        Connection c = DriverManager.getConnection(url);
        System.out.println("before port " + port(c));
        System.out.flush();
        long deadline = System.nanoTime() + 120_000_000_000L;
        while (!Files.exists(Paths.get(args[1])) && System.nanoTime() < deadline)
            Thread.sleep(100);
        try (Statement st = c.createStatement()) {
            st.executeQuery("SELECT 1").close();
            System.out.println("no error");
        } catch (SQLException e) {
            System.out.println("error " + e.getErrorCode() + " " + e.getSQLState() + " - "
                    + e.getMessage());
            // Connector/J 2.x reports a server error that ends the connection as a connection
            // error (code 0, SQLState 08000) whose cause is the server's error itself.
            if (e.getCause() instanceof SQLException) {
                SQLException why = (SQLException) e.getCause();
                System.out.println("cause " + why.getErrorCode() + " " + why.getSQLState() + " - "
                        + why.getMessage());
            }
        }
        System.out.println("valid after the error: " + c.isValid(5));
        c.close();
        try (Connection again = DriverManager.getConnection(url)) {
            System.out.println("after port " + port(again));
        }
    }
}
