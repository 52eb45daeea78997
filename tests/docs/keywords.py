#!/usr/bin/env python3
"""Compare the keywords src/conf.c accepts with those docs/rebound.conf.5 documents.

Usage: keywords.py [--list] CONF_C MAN_PAGE

From the parser: every entry of its keyword tables (`{"name", kw_..., off}`): the global,
listen and server keyword tables, the `timeout` kinds (as "timeout KIND") and the
`health-log syslog` options; plus the words compared in the parsers of keywords that take
a kind: `option NAME`, `health-log SINK`, `expect WHAT`; and `server`.
From the man page: the tag of every .TP entry in its sections named "... KEYWORDS" and
"... OPTIONS": the first word of the tag's first bold argument, and for a keyword that
takes a kind (timeout, option, health-log, expect), the first two words.

Prints every keyword one side has and the other lacks, and exits 1 if there is any.
--list prints both lists instead. A new keyword table in conf.c must be named in TABLES
below, so that it cannot be missed silently."""

import re
import sys

# Keyword tables of conf.c and the prefix their entries get.
TABLES = {
    "global_keywords": "",
    "listen_keywords": "",
    "server_keywords": "",
    "kinds": "timeout ",  # kw_timeout
    "options": "",  # health_sink_syslog: facility, tag, format
    "bind_options": "",  # bind_ssl: crt, key, the modes, ssl-min-ver, ciphers, ciphersuites
}
# Parser function -> (variable compared with strcmp, prefix of the words it accepts).
KIND_PARSERS = {
    "kw_option": ("v", "option "),
    "kw_health_log": ("v", "health-log "),
    "kw_expect": ("what", "expect "),
}
COMPOUND = {"timeout", "option", "health-log", "expect"}


def parser_keywords(text):
    words, problems = set(), []
    table = None
    for line in text.splitlines():
        m = re.match(r"\s*(?:static\s+)?const\s+struct\s+keyword\s+(\w+)\[\]\s*=", line)
        if m:
            table = m.group(1)
            if table not in TABLES:
                problems.append(f"conf.c: unknown keyword table '{table}': add it to "
                                "TABLES in tests/docs/keywords.py")
                table = None
            continue
        if table:
            for name in re.findall(r'\{\s*"([^"]+)"\s*,\s*kw_\w+', line):
                words.add(TABLES[table] + name)
            if re.search(r"^\s*\};", line):
                table = None
    for func, (var, prefix) in KIND_PARSERS.items():
        m = re.search(r"^static int " + func + r"\(.*?^\}", text, re.M | re.S)
        if not m:
            problems.append(f"conf.c: no function {func}: update tests/docs/keywords.py")
            continue
        found = re.findall(r"strcmp\(" + var + r',\s*"([^"]+)"\)', m.group(0))
        if not found:
            problems.append(f"conf.c: {func} compares no word: update tests/docs/keywords.py")
        words |= {prefix + w for w in found}
    if re.search(r'strcmp\(kw,\s*"server"\)', text):
        words.add("server")
    else:
        problems.append("conf.c: no 'server' line keyword found")
    return words, problems


def roff_args(line):
    """Arguments of a roff macro line, with quotes and font/escape sequences resolved."""
    args = re.findall(r'"([^"]*)"|(\S+)', line)
    out = []
    for quoted, bare in args:
        a = quoted if quoted else bare
        a = re.sub(r"\\f[BIRP]", "", a)
        a = a.replace("\\-", "-").replace("\\%", "").replace("\\&", "")
        out.append(a)
    return out


def man_keywords(text):
    words = set()
    lines = text.splitlines()
    section = ""
    for i, line in enumerate(lines):
        if line.startswith(".SH"):
            section = " ".join(roff_args(line[3:]))
            continue
        if not re.search(r"(KEYWORDS|OPTIONS)$", section) or line.strip() != ".TP":
            continue
        tag = lines[i + 1] if i + 1 < len(lines) else ""
        m = re.match(r"\.(B|BI|BR)\s+(.*)", tag)
        if not m:
            continue
        # .B sets all its arguments in bold; .BI and .BR only the first.
        args = roff_args(m.group(2))
        first = (" ".join(args) if m.group(1) == "B" else args[0]).split()
        if not first:
            continue
        words.add(first[0])
        if first[0] in COMPOUND and len(first) > 1:
            words.add(first[0] + " " + first[1])
    return words


def main():
    args = sys.argv[1:]
    listing = args[:1] == ["--list"]
    if listing:
        args = args[1:]
    if len(args) != 2:
        sys.exit("usage: keywords.py [--list] CONF_C MAN_PAGE")
    with open(args[0], encoding="utf-8") as f:
        parsed, problems = parser_keywords(f.read())
    with open(args[1], encoding="utf-8") as f:
        documented = man_keywords(f.read())
    if listing:
        print("parser:    " + ", ".join(sorted(parsed)))
        print("man page:  " + ", ".join(sorted(documented)))
        return
    for w in sorted(parsed - documented):
        problems.append(f"'{w}' is accepted by {args[0]} but not documented in {args[1]}")
    for w in sorted(documented - parsed):
        problems.append(f"'{w}' is documented in {args[1]} but {args[0]} does not accept it")
    if len(parsed) < 30:
        problems.append(f"only {len(parsed)} keywords found in {args[0]}: is the extraction "
                        "still right?")
    for p in problems:
        print(f"keywords: {p}", file=sys.stderr)
    if problems:
        sys.exit(1)
    print(f"keywords: the {len(parsed)} keywords of {args[0]} are all documented in {args[1]}")


if __name__ == "__main__":
    main()
