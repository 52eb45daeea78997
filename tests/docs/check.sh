#!/usr/bin/env bash
# Checks of the documentation that can go stale (`make check-docs`):
#   1. docs/rebound.8 and docs/rebound.conf.5 render with man(1) without a single groff
#      warning (man exits 0 on warnings, so any output on standard error fails);
#   2. rebound.conf.5 documents exactly the keywords src/conf.c accepts (keywords.py);
#   3. the configuration examples in rebound.conf.5 pass `rebound -c`;
#   4. the relative links of the deployment, operations and TLS docs point at existing files.
# REBOUND_BIN: the binary for step 3 (default build/rebound).
set -euo pipefail
cd "$(dirname "$0")/../.."

REBOUND_BIN=${REBOUND_BIN:-build/rebound}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0
fail() {
    echo "check-docs: FAIL: $*" >&2
    failed=$((failed + 1))
}
pass() { echo "check-docs: ok: $*"; }

# 1. Rendering.
for page in docs/rebound.8 docs/rebound.conf.5; do
    if ! LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 timeout 60 \
        man --warnings -E UTF-8 -l "$page" >"$tmp/out" 2>"$tmp/err"; then
        fail "man -l $page exited with an error: $(cat "$tmp/err")"
    elif [ -s "$tmp/err" ]; then
        fail "man -l $page: warnings:"
        cat "$tmp/err" >&2
    elif ! grep -q '^NAME' "$tmp/out"; then
        fail "man -l $page rendered no NAME section"
    else
        pass "$page renders without warnings ($(wc -l <"$tmp/out") lines)"
    fi
done

# 2. Keywords: parser and man page agree.
if python3 tests/docs/keywords.py src/conf.c docs/rebound.conf.5; then
    pass "rebound.conf.5 documents every keyword of src/conf.c, and no other"
else
    fail "rebound.conf.5 and src/conf.c disagree on the keywords (above)"
fi

# 3. The examples of rebound.conf.5 (every .nf/.fi block holding a listen section).
python3 - docs/rebound.conf.5 "$tmp" <<'EOF'
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
n = 0
for block in re.findall(r"^\.nf\n(.*?)^\.fi$", text, re.M | re.S):
    if "\nlisten " not in "\n" + block:
        continue
    n += 1
    conf = block.replace("\\-", "-").replace("\\e", "\\")
    with open(f"{sys.argv[2]}/example{n}.conf", "w", encoding="utf-8") as f:
        f.write(conf)
EOF
examples=("$tmp"/example*.conf)
if [ ! -e "${examples[0]}" ]; then
    fail "no configuration example found in rebound.conf.5"
elif [ ! -x "$REBOUND_BIN" ]; then
    fail "$REBOUND_BIN not built: cannot check the examples of rebound.conf.5"
else
    for f in "${examples[@]}"; do
        if out=$("$REBOUND_BIN" -c -f "$f" 2>&1); then
            pass "rebound.conf.5 example $(basename "$f" .conf) is a valid configuration"
        else
            fail "rebound.conf.5 example $(basename "$f" .conf) is rejected: $out"
        fi
    done
fi

# 4. Relative links of the deployment and operations docs.
for doc in docs/architecture.md docs/operations.md docs/scaling.md docs/deploy.md docs/tls.md; do
    [ -f "$doc" ] || {
        fail "$doc is missing"
        continue
    }
    bad=0
    while IFS= read -r target; do
        target=${target%%#*}
        [ -z "$target" ] && continue
        if [ ! -e "$(dirname "$doc")/$target" ]; then
            fail "$doc links to $target, which does not exist"
            bad=1
        fi
    done < <(grep -o '\]([^)]*)' "$doc" | sed 's/^](//; s/)$//' | grep -v '^[a-z]*:' || true)
    [ $bad = 0 ] && pass "$doc: every relative link resolves"
done

if [ $failed -gt 0 ]; then
    echo "check-docs: $failed check(s) failed" >&2
    exit 1
fi
echo "check-docs: all documentation checks passed"
