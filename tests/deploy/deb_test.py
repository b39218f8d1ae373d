#!/usr/bin/env python3
"""The Debian package of aiot (cmake/package.cmake), checked as an operator would meet it.

Builds the .deb with CPack from the current build into a temporary directory, then:
  - its name is aiot_<version>_<arch>.deb; `dpkg-deb -I` names the package, the architecture,
    its dependencies; the maintainer scripts create the aiot system user and /var/lib/aiot;
    /etc/aiot/aiot.yaml is a conffile; with --malloc jemalloc (AIOT_MALLOC, cmake/malloc.cmake) it
    depends on libjemalloc2 and the packaged binary reports jemalloc as its allocator;
  - `dpkg-deb -c` lists the binary, the dashboard (with uPlot), the unit, the configuration and the
    docs, and no node_modules; the binary is stripped and names no source web/ path;
  - the unit passes `systemd-analyze verify` in a temporary root holding the extracted package
    (and the host's other units, so that the targets it names resolve); a copy whose ExecStart
    names a missing binary fails there, so the check can fail; `systemd-analyze security` rates
    its exposure at most 2.5;
  - the configuration passes the installed `aiot config check` and keeps HTTP and MQTT on loopback;
  - the extracted binary runs: it tells the service manager READY=1 over $NOTIFY_SOCKET, serves
    /healthz and the dashboard from the extracted share/aiot/web (a marker added to the extracted
    index.html is served; the log names that directory), and on SIGTERM says STOPPING=1 and exits 0.
Exit 0: passed; 1: failed; 77: dpkg-deb/systemd-analyze missing (1 with AIOT_REQUIRE_PEERS=1).
  deb_test.py --build-dir BUILD --source-dir SRC [--cpack CPACK] [--malloc jemalloc|system]
"""
import argparse
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

FAILURES = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        FAILURES.append(what)
    return cond


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def require_tools():
    missing = [t for t in ("dpkg-deb", "systemd-analyze", "dpkg") if not shutil.which(t)]
    if missing:
        required = os.environ.get("AIOT_REQUIRE_PEERS") == "1"
        print(("FAIL" if required else "SKIP") + ": missing " + " ".join(missing))
        sys.exit(1 if required else 77)


def build_package(args, out):
    r = run([args.cpack, "-G", "DEB", "--config", os.path.join(args.build_dir, "CPackConfig.cmake"),
             "-B", out])
    if not check(r.returncode == 0, "cpack builds the package"):
        print(r.stdout[-3000:], r.stderr[-3000:])
        sys.exit(1)
    debs = [f for f in os.listdir(out) if f.endswith(".deb")]
    check(len(debs) == 1, f"one .deb written: {debs}")
    return os.path.join(out, debs[0])


def check_metadata(deb, tmp, malloc):
    arch = run(["dpkg", "--print-architecture"]).stdout.strip()
    name = os.path.basename(deb)
    check(re.fullmatch(rf"aiot_\d+\.\d+\.\d+_{arch}\.deb", name) is not None,
          f"file name aiot_<version>_{arch}.deb: {name}")
    info = run(["dpkg-deb", "-I", deb]).stdout
    fields = dict(re.findall(r"^ ([A-Za-z-]+): (.*)$", info, re.M))
    check(fields.get("Package") == "aiot", "Package: aiot")
    check(fields.get("Architecture") == arch, f"Architecture: {arch}")
    check(fields.get("Version", "") in name, "Version matches the file name")
    depends = fields.get("Depends", "")
    check("adduser" in depends and "libc6" in depends, f"Depends: adduser and shared libraries ({depends})")
    check(("libjemalloc2" in depends) == (malloc == "jemalloc"),
          f"Depends names libjemalloc2 exactly when AIOT_MALLOC=jemalloc ({malloc}): {depends}")
    control = os.path.join(tmp, "control")
    run(["dpkg-deb", "-e", deb, control])
    with open(os.path.join(control, "conffiles")) as f:
        check(f.read().split() == ["/etc/aiot/aiot.yaml"], "conffiles: /etc/aiot/aiot.yaml")
    with open(os.path.join(control, "postinst")) as f:
        postinst = f.read()
    check("adduser --system" in postinst and " aiot" in postinst, "postinst creates the aiot system user")
    check("/var/lib/aiot" in postinst, "postinst creates /var/lib/aiot")
    for script in ("postinst", "prerm", "postrm"):
        path = os.path.join(control, script)
        check(os.access(path, os.X_OK) and run(["sh", "-n", path]).returncode == 0,
              f"{script} is an executable shell script")


def check_contents(deb):
    listing = run(["dpkg-deb", "-c", deb]).stdout
    paths = {line.split()[-1] for line in listing.splitlines() if line}
    for p in ("./usr/bin/aiot", "./usr/share/aiot/web/index.html", "./usr/share/aiot/web/app.js",
              "./usr/share/aiot/web/vendor/uplot/uPlot.esm.js", "./usr/lib/systemd/system/aiot.service",
              "./etc/aiot/aiot.yaml", "./usr/share/doc/aiot/deployment.md"):
        check(p in paths, f"contains {p}")
    check(not any("node_modules" in p or "package.json" in p for p in paths),
          "no node_modules or package.json")


def check_binary(root, source_dir):
    exe = os.path.join(root, "usr/bin/aiot")
    file_out = run(["file", "-b", exe]).stdout if shutil.which("file") else "stripped"
    check("not stripped" not in file_out, f"binary is stripped ({file_out.strip()[:60]}...)")
    with open(exe, "rb") as f:
        data = f.read()
    check(os.fsencode(source_dir + "/web") not in data, "binary names no source web/ path")


def check_unit(root):
    unitdir = os.path.join(root, "usr/lib/systemd/system")
    with open(os.path.join(unitdir, "aiot.service")) as f:
        unit = f.read()
    check("ExecStart=/usr/bin/aiot --config /etc/aiot/aiot.yaml up" in unit, "ExecStart: /usr/bin/aiot")
    for key in ("Type=notify", "NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes",
                "StateDirectory=aiot", "Restart=on-failure", "User=aiot"):
        check(key in unit, f"unit has {key}")
    # The targets the unit names (and the default dependencies) come from the host.
    for d in ("/usr/lib/systemd/system", "/lib/systemd/system"):
        if os.path.isdir(d):
            for name in os.listdir(d):
                if name != "aiot.service" and not os.path.lexists(os.path.join(unitdir, name)):
                    src = os.path.join(d, name)
                    if os.path.isfile(src) and not os.path.islink(src):
                        shutil.copy(src, unitdir)
    r = run(["systemd-analyze", "verify", "--man=no", f"--root={root}", "aiot.service"])
    check(r.returncode == 0 and "aiot.service" not in r.stderr,
          f"systemd-analyze verify aiot.service {r.stderr.strip()}")
    broken = os.path.join(unitdir, "aiot-broken.service")
    with open(broken, "w") as f:
        f.write(unit.replace("ExecStart=/usr/bin/aiot", "ExecStart=/usr/bin/aiot-missing"))
    r = run(["systemd-analyze", "verify", "--man=no", f"--root={root}", "aiot-broken.service"])
    check(r.returncode != 0, "systemd-analyze verify refuses a unit whose binary is missing")
    os.remove(broken)
    r = run(["systemd-analyze", "security", "--offline=yes", f"--root={root}", "--threshold=25",
             "--no-pager", "aiot.service"])
    level = re.search(r"Overall exposure level for aiot.service: ([0-9.]+)", r.stdout + r.stderr)
    check(r.returncode == 0 and level is not None,
          f"systemd-analyze security: exposure {level.group(1) if level else '?'} <= 2.5")


def check_allocator(root, malloc):
    r = run([os.path.join(root, "usr/bin/aiot"), "version", "--json"])
    want = '"allocator":"jemalloc ' if malloc == "jemalloc" else '"allocator":"glibc '
    check(r.returncode == 0 and want in r.stdout, f"aiot version: allocator {malloc}: {r.stdout}{r.stderr}")


def check_config(root):
    exe = os.path.join(root, "usr/bin/aiot")
    conf = os.path.join(root, "etc/aiot/aiot.yaml")
    r = run([exe, "config", "check", conf])
    check(r.returncode == 0, f"aiot config check /etc/aiot/aiot.yaml {r.stdout}{r.stderr}")
    r = run([exe, "--config", conf, "config", "show"])
    check('listen: "127.0.0.1:8080"' in r.stdout and '["127.0.0.1:1883"]' in r.stdout,
          "the configuration listens on loopback only")
    check("data_dir: /var/lib/aiot" in r.stdout, "state in /var/lib/aiot")


def http_get(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path)
    resp = conn.getresponse()
    return resp.status, resp.read()


def receive(sock, deadline, proc):
    """The next notify datagram, or None when the process exits or the deadline passes."""
    while time.monotonic() < deadline:
        try:
            return sock.recv(4096).decode()
        except socket.timeout:
            if proc.poll() is not None:
                return None
    return None


def check_running(root, tmp):
    exe = os.path.join(root, "usr/bin/aiot")
    web = os.path.join(root, "usr/share/aiot/web")
    marker = f"<!-- extracted package {os.getpid()} -->"
    with open(os.path.join(web, "index.html"), "a") as f:
        f.write(marker + "\n")
    state = os.path.join(tmp, "state")
    notify_path = os.path.join(tmp, "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(notify_path)
    sock.settimeout(0.5)
    log_path = os.path.join(tmp, "aiot.log")
    env = dict(os.environ, NOTIFY_SOCKET=notify_path)
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [exe, "--config", os.path.join(root, "etc/aiot/aiot.yaml"), "--log-format", "text",
             "--set", "http.listen=127.0.0.1:0", "--set", "broker.listeners=[127.0.0.1:0]",
             "--set", f"registry.data_dir={state}", "--set", f"store.path={state}/telemetry.db",
             "--set", "bootstrap.enabled=false", "up"],
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp)
    try:
        ready = receive(sock, time.monotonic() + 120, proc)
        check(ready is not None and "READY=1" in ready, f"READY=1 over NOTIFY_SOCKET ({ready!r})")
        with open(log_path) as f:
            log_text = f.read()
        m = re.search(r"HTTP on http://127\.0\.0\.1:(\d+)", log_text)
        if not check(m is not None, "log names the HTTP port"):
            print(log_text[-3000:])
            return
        port = int(m.group(1))
        status, body = http_get(port, "/healthz")
        check(status == 200, f"/healthz: {status} {body[:20]!r}")
        status, body = http_get(port, "/ui/")
        check(status == 200 and marker.encode() in body,
              "/ui/ serves the extracted index.html (marker present)")
        status, body = http_get(port, "/ui/vendor/uplot/uPlot.esm.js")
        check(status == 200 and len(body) > 1000, "/ui/vendor/uplot/uPlot.esm.js from the package")
        real_web = os.path.realpath(web)
        check(f"dashboard at /ui/ from {real_web}" in log_text,
              f"log: dashboard from {real_web}")
        proc.send_signal(signal.SIGTERM)
        stopping = receive(sock, time.monotonic() + 60, proc)
        check(stopping is not None and "STOPPING=1" in stopping, f"STOPPING=1 on SIGTERM ({stopping!r})")
        check(proc.wait(timeout=60) == 0, "exits 0 after SIGTERM")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        sock.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--cpack", default="cpack")
    ap.add_argument("--malloc", default="system", choices=["jemalloc", "system"])
    args = ap.parse_args()
    args.build_dir = os.path.realpath(args.build_dir)
    args.source_dir = os.path.realpath(args.source_dir)
    require_tools()
    with tempfile.TemporaryDirectory(prefix="aiot_deb_test_") as tmp:
        deb = build_package(args, os.path.join(tmp, "out"))
        check_metadata(deb, tmp, args.malloc)
        check_contents(deb)
        root = os.path.join(tmp, "root")
        run(["dpkg-deb", "-x", deb, root])
        check_binary(root, args.source_dir)
        check_allocator(root, args.malloc)
        check_unit(root)
        check_config(root)
        check_running(root, tmp)
    print(f"{len(FAILURES)} failed" if FAILURES else "all passed")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
