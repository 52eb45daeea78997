#!/usr/bin/env python3
"""Static checks of docker/ that need no container engine (run by tests/docker/check.sh).

Usage: files.py COMPOSE_CONFIG DESTDIR OUTDIR

COMPOSE_CONFIG is the output of `docker-compose -f docker/docker-compose.yml config`
(the file as Compose understood it: anchors merged, paths made absolute). DESTDIR is the
tree docker/build.sh installed. Checks that the Dockerfile, the compose file, rebound.conf
and the build script agree with each other:
  - the build stage runs docker/build.sh and the runtime stage copies what it installed;
  - the runtime stage installs exactly the packages of the libraries the binary links
    (its DT_NEEDED entries, through ldd and dpkg -S), plus ca-certificates;
  - EXPOSE, the compose port mappings and the ports rebound.conf binds are the same set;
  - the health check named by HEALTHCHECK and by the compose file is the script copied in;
  - every service has a health check; the replica waits for a healthy master, rebound
    for both; every bind-mounted file exists; the init scripts are mounted where the
    mariadb image runs them.
Writes OUTDIR/SERVICE.cmd (the `command:` list, one argument a line) and OUTDIR/SERVICE.env
(KEY=VALUE lines) for master and replica, so the caller starts mariadbd the same way.
Exits 1 with one line per problem."""

import os
import re
import shlex
import subprocess
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
problems = []


def fail(msg):
    problems.append(msg)


def read(rel):
    with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
        return f.read()


def dockerfile_stages(text):
    """Instructions per stage: [(from_line, [(INSTR, args), ...]), ...]; continuations joined."""
    lines, cur = [], ""
    for raw in text.splitlines():
        s = raw.strip()
        if not cur and (not s or s.startswith("#")):
            continue
        if s.startswith("#"):
            continue
        if s.endswith("\\"):
            cur += s[:-1] + " "
            continue
        lines.append(cur + s)
        cur = ""
    stages = []
    for line in lines:
        instr, _, args = line.partition(" ")
        instr = instr.upper()
        if instr == "FROM":
            stages.append((args.strip(), []))
        elif not stages:
            fail(f"Dockerfile: {instr} before the first FROM")
        else:
            stages[-1][1].append((instr, args.strip()))
    return stages


def needed_packages(binary):
    """Debian packages holding the shared libraries BINARY names in DT_NEEDED."""
    dyn = subprocess.run(["readelf", "-d", binary], capture_output=True, text=True, check=True)
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dyn.stdout)
    ldd = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True)
    where = dict(re.findall(r"^\s*(\S+) => (\S+)", ldd.stdout, re.M))
    pkgs = {}
    for lib in needed:
        path = where.get(lib)
        if not path or path == "not":
            fail(f"ldd cannot find {lib}, which {binary} needs")
            continue
        real = os.path.realpath(path)
        owner = None
        # merged /usr: dpkg knows a library by one of its two names
        for cand in {path, real, re.sub(r"^/usr/lib/", "/lib/", real),
                     re.sub(r"^/lib/", "/usr/lib/", real)}:
            r = subprocess.run(["dpkg", "-S", cand], capture_output=True, text=True)
            if r.returncode == 0:
                owner = r.stdout.split(":")[0].strip()
                break
        if not owner:
            fail(f"no Debian package owns {path} ({lib})")
            continue
        pkgs[owner] = lib
    return pkgs


def check_dockerfile(destdir, conf_ports):
    text = read("docker/Dockerfile")
    stages = dockerfile_stages(text)
    if len(stages) != 2:
        fail(f"Dockerfile: expected a build and a runtime stage, found {len(stages)}")
        return set()
    (build_from, build), (run_from, run) = stages
    if not re.fullmatch(r"debian:12\s+AS\s+build", build_from, re.I):
        fail(f"Dockerfile: build stage is 'FROM {build_from}', expected 'debian:12 AS build'")
    if run_from != "debian:12-slim":
        fail(f"Dockerfile: runtime stage is 'FROM {run_from}', expected debian:12-slim")
    runs = [a for i, a in build if i == "RUN"]
    if not any(re.match(r"docker/build\.sh /out(\s|$)", a) for a in runs):
        fail("Dockerfile: the build stage does not run 'docker/build.sh /out'")
    for instr, args in build + run:
        if instr == "COPY" and not args.startswith("--from="):
            for src in shlex.split(args)[:-1]:
                if src != "." and not os.path.exists(os.path.join(ROOT, src)):
                    fail(f"Dockerfile: COPY source {src} does not exist")
    copied = {}
    for instr, args in run:
        if instr == "COPY":
            words = shlex.split(args)
            src, dst = words[-2], words[-1]
            copied[dst] = src
            if words[0] == "--from=build":
                if not src.startswith("/out/"):
                    fail(f"Dockerfile: COPY --from=build of {src}, outside /out")
                elif not os.path.exists(os.path.join(destdir, src[len("/out/"):])):
                    fail(f"Dockerfile: {src} is not in what docker/build.sh installs")
    if copied.get("/usr/sbin/rebound") != "/out/usr/sbin/rebound":
        fail("Dockerfile: the runtime stage does not copy /out/usr/sbin/rebound to /usr/sbin")

    # Runtime packages: exactly the binary's libraries (+ CA certificates).
    listed = set()
    for instr, args in run:
        if instr == "RUN":
            for m in re.finditer(r"apt-get install ((?:\s*-\S+)*)((?:\s+[a-z0-9][a-z0-9.+-]+)+)",
                                 args):
                listed |= set(m.group(2).split())
    needed = needed_packages(os.path.join(destdir, "usr/sbin/rebound"))
    base = {"libc6", "libgcc-s1"}  # in debian:12-slim already
    for pkg, lib in sorted(needed.items()):
        if pkg not in listed and pkg not in base:
            fail(f"Dockerfile: the runtime stage lacks {pkg} (for {lib})")
    for pkg in sorted(listed - set(needed) - {"ca-certificates"}):
        fail(f"Dockerfile: the runtime stage installs {pkg}, which the binary does not link")

    users = [a for i, a in run if i == "USER"]
    if users != ["rebound"]:
        fail(f"Dockerfile: runtime USER is {users}, expected the non-root user rebound")
    cmd = [a for i, a in run if i == "CMD"]
    if cmd != ['["rebound", "-f", "/etc/rebound/rebound.conf"]']:
        fail(f"Dockerfile: CMD is {cmd}, expected rebound in the foreground with "
             "/etc/rebound/rebound.conf")
    hc = [a for i, a in run if i == "HEALTHCHECK"]
    m = re.search(r"CMD\s+\[\"([^\"]+)\"", hc[0]) if len(hc) == 1 else None
    if not m:
        fail("Dockerfile: expected one HEALTHCHECK with an exec-form CMD")
    elif os.path.join("/usr/local/bin", m.group(1)) not in copied:
        fail(f"Dockerfile: HEALTHCHECK runs {m.group(1)}, which is not copied to /usr/local/bin")
    elif copied[os.path.join("/usr/local/bin", m.group(1))] != "docker/healthcheck.sh":
        fail("Dockerfile: the health check is not docker/healthcheck.sh")
    exposed = set()
    for instr, args in run:
        if instr == "EXPOSE":
            exposed |= {int(p.split("/")[0]) for p in args.split()}
    if exposed != conf_ports:
        fail(f"Dockerfile: EXPOSE {sorted(exposed)} but docker/rebound.conf listens on "
             f"{sorted(conf_ports)}")
    return exposed


def conf_ports():
    """Ports of bind, admin and stats lines in docker/rebound.conf."""
    ports = set()
    for line in read("docker/rebound.conf").splitlines():
        line = line.split("#", 1)[0]
        m = re.match(r"\s*(?:bind|admin|stats)\s+(\S+)", line)
        if m and m.group(1).rsplit(":", 1)[-1].isdigit():
            ports.add(int(m.group(1).rsplit(":", 1)[-1]))
    return ports


def port_targets(ports):
    out = set()
    for p in ports or []:
        if isinstance(p, dict):
            out.add(int(p["target"]))
        else:
            out.add(int(str(p).split("/")[0].rsplit(":", 1)[-1]))
    return out


def bind_mounts(svc):
    """(source, target) of the bind mounts of a service (named volumes left out)."""
    out = []
    for v in svc.get("volumes", []):
        if isinstance(v, dict):
            if v.get("type") == "bind":
                out.append((v["source"], v["target"]))
            continue
        parts = v.split(":")
        if parts[0].startswith("/"):
            out.append((parts[0], parts[1]))
    return out


def check_compose(cfg, cports, outdir):
    services = cfg.get("services", {})
    for name in ("master", "replica", "rebound"):
        if name not in services:
            fail(f"compose: no service {name}")
            return
    for name, svc in services.items():
        if not svc.get("healthcheck", {}).get("test"):
            fail(f"compose: service {name} has no health check")
        for src, dst in bind_mounts(svc):
            if not os.path.exists(src):
                fail(f"compose: {name} mounts {src}, which does not exist")
            if not os.path.realpath(src).startswith(os.path.join(ROOT, "docker") + os.sep):
                fail(f"compose: {name} mounts {src}, outside docker/")

    def cond(svc, dep):
        return services[svc].get("depends_on", {}).get(dep, {}).get("condition")

    for svc, dep in (("replica", "master"), ("rebound", "master"), ("rebound", "replica")):
        if cond(svc, dep) != "service_healthy":
            fail(f"compose: {svc} does not wait for a healthy {dep}")
    for db in ("master", "replica"):
        svc = services[db]
        if not str(svc.get("image", "")).startswith("mariadb:10.11"):
            fail(f"compose: {db} is not the mariadb:10.11 image")
        initdb = os.path.join(ROOT, "docker", "initdb", db)
        if (initdb, "/docker-entrypoint-initdb.d") not in [
                (os.path.realpath(s), d) for s, d in bind_mounts(svc)]:
            fail(f"compose: {db} does not mount docker/initdb/{db} at /docker-entrypoint-initdb.d")
        targets = [str(v).split(":")[1] for v in svc.get("volumes", []) if ":" in str(v)]
        if "/var/lib/mysql" not in targets:
            fail(f"compose: {db} keeps its data in no volume")
        cmd = svc.get("command") or []
        if isinstance(cmd, str):
            cmd = shlex.split(cmd)
        env = svc.get("environment") or {}
        if isinstance(env, list):
            env = dict(e.split("=", 1) for e in env)
        with open(os.path.join(outdir, db + ".cmd"), "w", encoding="utf-8") as f:
            f.writelines(f"{a}\n" for a in cmd)
        with open(os.path.join(outdir, db + ".env"), "w", encoding="utf-8") as f:
            f.writelines(f"{k}={'' if v is None else v}\n" for k, v in env.items())

    rb = services["rebound"]
    build = rb.get("build", {})
    if os.path.realpath(build.get("context", "")) != ROOT or \
            build.get("dockerfile") != "docker/Dockerfile":
        fail("compose: rebound is not built from the repository root with docker/Dockerfile")
    mounts = {d: os.path.realpath(s) for s, d in bind_mounts(rb)}
    if mounts.get("/etc/rebound/rebound.conf") != os.path.join(ROOT, "docker", "rebound.conf"):
        fail("compose: rebound does not get docker/rebound.conf at /etc/rebound/rebound.conf")
    if port_targets(rb.get("ports")) != cports:
        fail(f"compose: rebound publishes {sorted(port_targets(rb.get('ports')))} but "
             f"rebound.conf listens on {sorted(cports)}")
    if rb["healthcheck"]["test"][-1] != "rebound-healthcheck":
        fail("compose: rebound's health check is not the image's rebound-healthcheck")


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__.split("\n\n")[1])
    config, destdir, outdir = sys.argv[1:]
    with open(config, encoding="utf-8") as f:
        cfg = yaml.safe_load(f)
    cports = conf_ports()
    if not cports:
        fail("docker/rebound.conf: no bind, admin or stats port found")
    check_dockerfile(destdir, cports)
    check_compose(cfg, cports, outdir)
    for p in problems:
        print(f"files.py: {p}", file=sys.stderr)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
