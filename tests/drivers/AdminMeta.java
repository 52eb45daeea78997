// AdminMeta.java - MariaDB Connector/J against rebound's admin port: what a JDBC tool does
// to show a database (DatabaseMetaData), a plain query on DUAL, a PreparedStatement, and an
// UPDATE that changes nothing, counted both ways JDBC can count it.
//
// Usage: java -cp CLASSES:mariadb-java-client.jar AdminMeta PORT USER PASSWORD
// Prints one line per check ("name: result"); exits 1 at the first failure, after printing
// "FAIL name: why". tests/integ/test_admin_meta.c compiles it, runs it and reads the lines.
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Types;
import java.util.ArrayList;
import java.util.List;

public class AdminMeta {
    private static String step = "connect";

    // Column COL of every row of RS, comma-separated.
    private static String column(ResultSet rs, String col) throws SQLException {
        List<String> vals = new ArrayList<>();
        while (rs.next())
            vals.add(rs.getString(col));
        rs.close();
        return String.join(",", vals);
    }

    private static void check(boolean ok, String why) {
        if (!ok)
            throw new IllegalStateException(why);
    }

    private static void say(String name, String result) {
        System.out.println(name + ": " + result);
    }

    // The metadata calls, the query on DUAL and the prepared statement, on one connection.
    private static void metadata(Connection c) throws SQLException {
        DatabaseMetaData md = c.getMetaData();

        step = "getCatalogs";
        String catalogs = column(md.getCatalogs(), "TABLE_CAT");
        say(step, catalogs);
        check(catalogs.equals("information_schema,rebound"), "catalogs " + catalogs);

        step = "getSchemas";
        ResultSet rs = md.getSchemas();
        int schemas = 0;
        while (rs.next())
            schemas++;
        rs.close();
        say(step, schemas + " rows");

        step = "getTables";
        rs = md.getTables("rebound", null, "%", new String[] {"TABLE"});
        List<String> tables = new ArrayList<>();
        while (rs.next()) {
            check(rs.getString("TABLE_TYPE").equals("TABLE"), "type " + rs.getString("TABLE_TYPE"));
            tables.add(rs.getString("TABLE_NAME"));
        }
        rs.close();
        say(step, String.join(",", tables));
        check(tables.contains("servers") && tables.contains("sessions"), "tables " + tables);

        step = "getColumns";
        rs = md.getColumns("rebound", null, "servers", "%");
        List<String> cols = new ArrayList<>();
        while (rs.next()) {
            String name = rs.getString("COLUMN_NAME");
            int type = rs.getInt("DATA_TYPE");
            cols.add(name + " " + rs.getString("TYPE_NAME") + " " + rs.getString("IS_NULLABLE"));
            check(rs.getInt("ORDINAL_POSITION") == cols.size(), "position of " + name);
            if (name.equals("health"))
                check(type == Types.BIGINT, "health is type " + type);
            if (name.equals("admin_state"))
                check(type == Types.LONGVARCHAR, "admin_state is type " + type);
        }
        rs.close();
        say(step, String.join(", ", cols));
        check(cols.size() > 20 && cols.get(0).equals("listener TEXT NO"), "columns " + cols);

        step = "getPrimaryKeys";
        String pk = column(md.getPrimaryKeys("rebound", null, "servers"), "COLUMN_NAME");
        say(step, "servers " + pk);
        check(pk.equals("listener,name"), "servers key " + pk);
        pk = column(md.getPrimaryKeys("rebound", null, "sessions"), "COLUMN_NAME");
        say(step, "sessions " + pk);
        check(pk.equals("id"), "sessions key " + pk);

        step = "getIndexInfo";
        String idx = column(md.getIndexInfo("rebound", null, "servers", false, false), "INDEX_NAME");
        say(step, "servers " + idx);
        check(idx.equals("PRIMARY,PRIMARY"), "servers index " + idx);

        step = "dual";
        try (Statement st = c.createStatement();
             ResultSet r = st.executeQuery("SELECT 1 FROM DUAL")) {
            check(r.next() && r.getInt(1) == 1, "no 1");
            say(step, "1");
        }

        step = "prepared";
        try (PreparedStatement ps = c.prepareStatement(
                 "SELECT name, admin_state FROM servers WHERE listener = ? AND name = ?")) {
            ps.setString(1, "rw");
            ps.setString(2, "master");
            try (ResultSet r = ps.executeQuery()) {
                check(r.next(), "no row");
                say(step, r.getString(1) + " " + r.getString(2));
                check(!r.next(), "two rows");
            }
        }
    }

    // An UPDATE that changes nothing: JDBC counts matched rows unless useAffectedRows is set.
    private static void noop_update(String url, String user, String pw, String name)
        throws SQLException {
        step = name;
        try (Connection c = DriverManager.getConnection(url, user, pw);
             Statement st = c.createStatement()) {
            int n = st.executeUpdate(
                "UPDATE servers SET admin_state = 'ready' WHERE listener = 'rw' AND name = 'master'");
            say(step, Integer.toString(n));
        }
    }

    public static void main(String[] args) {
        String url = "jdbc:mariadb://127.0.0.1:" + args[0] + "/rebound";

        try {
            try (Connection c = DriverManager.getConnection(url, args[1], args[2])) {
                metadata(c);
            }
            noop_update(url, args[1], args[2], "update matched");
            noop_update(url + "?useAffectedRows=true", args[1], args[2], "update changed");
        } catch (SQLException | RuntimeException e) {
            System.out.println("FAIL " + step + ": " + e);
            System.exit(1);
        }
        System.out.println("ALL OK");
    }
}
