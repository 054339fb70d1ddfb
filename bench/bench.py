#!/usr/bin/env python3
"""etcdplay vs ansible-playbook vs pyinfra on real lab hosts, and the SSH floor.

Runs the tools alternately (A B A B ...) on the benchmark's own lab (labb1..labbN, bridge
etcdplaybr5, 10.213.5.0/24), resets hosts between converge rounds, and prints a markdown table
with medians, min-max and per-round ratios, plus pass/miss against the project's targets.
Every command's output goes to a log file under the work dir; the table goes to stdout and to
`--out`. Started by `bench/run`, which installs the tools first.
"""

import argparse
import datetime
import json
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
# ETCDPLAY_BENCH_PREFIX/_BRIDGE/_OCTET move the lab (etcdplay-bench-lab reads them too).
SUBNET = f"10.213.{os.environ.get('ETCDPLAY_BENCH_OCTET') or 5}"
PREFIX = os.environ.get("ETCDPLAY_BENCH_PREFIX") or "labb"
KEY = Path("/var/lib/etcdplay-lab/ssh/id_ed25519")
SSH_OPTS = [
    "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
    "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10",
]
# What the lab writes into every inventory (crates/etcdplay-lab/src/inventory.rs).
LAB_COMMON_ARGS = "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"
RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)

ETCD_RESET = ("systemctl stop etcd 2>/dev/null; rm -rf /var/lib/etcd /etc/etcd "
              "/etc/systemd/system/etcd.service /usr/local/bin/etcd*; systemctl daemon-reload")
FLEET_RESET = ("systemctl disable --now fleet-dummy >/dev/null 2>&1; rm -rf /opt/fleet "
               "/etc/systemd/system/fleet-dummy.service; systemctl daemon-reload")
# What a no-change fleet run has to learn from a host, in one shell: facts-like reads, the
# checksums of every managed file, the stats of every managed dir and the unit's state.
FLOOR_PROBE = (
    "hostname; ip -4 route show default; "
    "sha1sum /opt/fleet/motd /opt/fleet/fleet.conf /opt/fleet/conf.d/app.ini "
    "/etc/systemd/system/fleet-dummy.service /opt/fleet/fleet.env; "
    "stat -c '%n %a %U %G %F' /opt/fleet /opt/fleet/conf.d /opt/fleet/data /opt/fleet/motd "
    "/opt/fleet/fleet.conf /opt/fleet/conf.d/app.ini /etc/systemd/system/fleet-dummy.service "
    "/opt/fleet/fleet.env; "
    "systemctl show -p ActiveState -p UnitFileState -p LoadState fleet-dummy"
)


KEX_NOTE = ("Every tool and the floor use the ssh key exchange given by --kex (default "
            "curve25519-sha256): OpenSSH 9.2's default sntrup761x25519 costs ~0.12 s of client "
            "CPU per connection here, pyinfra's paramiko cannot do it, and etcdplay and "
            "Ansible both take it from ansible_ssh_common_args.")
ANSIBLE_NOTE = ("Ansible runs with its defaults (no ansible.cfg: pipelining off, "
                "ControlPersist=60s so later runs reuse the previous run's SSH masters), "
                "ANSIBLE_HOST_KEY_CHECKING=False, interpreter /usr/bin/python3. At 3 hosts "
                "default forks (5) equal -f 50, so only one Ansible fleet run is measured there.")
PROGRESS = re.compile(r"^\s+(etcd-role|fleet-\d+)-(etcdplay|ansible-f50|ansible|pyinfra)-(converge|nochange)"
                      r"\s+([\d.]+) s\s+rss\s+([\d.]+) MB", re.M)
FLOOR_LINE = re.compile(r"^\s+floor-(\d+)\s+([\d.]+) s", re.M)


class BenchFailure(Exception):
    """A run that did not do what the benchmark needs (failed host, change on a no-change run)."""


def host_ip(k):
    return f"{SUBNET}.{10 + k}"


def netns_ok(n):
    """Traffic goes only to hosts whose namespace this lab created and which exist right now."""
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    present = {line.split()[0] for line in names.splitlines() if line.strip()}
    missing = [k for k in range(1, n + 1) if f"etcdplay-{PREFIX}{k}" not in present]
    if missing:
        raise BenchFailure(f"namespaces missing for hosts {missing}; refusing to send traffic")


class Runner:
    """Runs commands with timing, peak RSS (wait4) and a log file per run."""

    def __init__(self, logdir, env):
        self.logdir = logdir
        self.env = env
        self.seq = 0

    def run(self, label, argv, cwd=None):
        self.seq += 1
        log = self.logdir / f"{self.seq:04d}-{re.sub(r'[^A-Za-z0-9_.-]+', '_', label)}.log"
        with open(log, "wb") as out:
            out.write((" ".join(shlex.quote(a) for a in argv) + "\n\n").encode())
            out.flush()
            start = time.monotonic()
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=cwd,
                                    env=self.env, stdin=subprocess.DEVNULL)
            _, status, usage = os.wait4(proc.pid, 0)
            elapsed = time.monotonic() - start
            proc.returncode = os.waitstatus_to_exitcode(status)
        text = log.read_text(errors="replace")
        return elapsed, proc.returncode, usage.ru_maxrss / 1024.0, text, log


def recap(text):
    """Per-host (ok, changed, unreachable, failed) from an Ansible-style recap."""
    return {m.group(1): tuple(int(m.group(i)) for i in range(2, 6)) for m in RECAP.finditer(text)}


def check_recap(kind, text, log, n, want_change):
    hosts = recap(text)
    if len(hosts) != n:
        raise BenchFailure(f"{kind}: recap has {len(hosts)} hosts, expected {n} (see {log})")
    bad = [h for h, (_, _, unreach, failed) in hosts.items() if unreach or failed]
    if bad:
        raise BenchFailure(f"{kind}: failed/unreachable on {bad} (see {log})")
    changed = sum(c for (_, c, _, _) in hosts.values())
    if want_change and changed == 0:
        raise BenchFailure(f"{kind}: converge changed nothing (see {log})")
    if not want_change and changed:
        raise BenchFailure(f"{kind}: no-change run changed {changed} (see {log})")


PYINFRA_ROW = re.compile(r"^\s+(\S.*?)\s{2,}(\d+)\s+(\S+)\s+(\S+)\s+(\S+)\s*$", re.M)


def check_pyinfra(text, log, want_change):
    """pyinfra prints a results table: per operation, hosts with a change (Success), errors and
    no change. `Dummy service` changes on every run (it always runs daemon-reload)."""
    rows = {m.group(1): m.groups()[1:] for m in PYINFRA_ROW.finditer(text.split("--> Results:")[-1])}
    rows.pop("Operation", None)
    rows.pop("Grand total", None)
    if len(rows) != 11:
        raise BenchFailure(f"pyinfra: results table has {len(rows)} operations, expected 11 (see {log})")
    count = lambda v: 0 if v == "-" else int(v)
    if any(count(err) for (_, _, err, _) in rows.values()):
        raise BenchFailure(f"pyinfra: errors (see {log})")
    changed = {op for op, (_, ok, _, _) in rows.items() if count(ok)}
    if want_change and not changed - {"Dummy service"}:
        raise BenchFailure(f"pyinfra: converge changed nothing (see {log})")
    if not want_change and changed - {"Dummy service"}:
        raise BenchFailure(f"pyinfra: no-change run changed {sorted(changed)} (see {log})")


def ssh_all(n, command, parallel=True):
    """Runs `command` on hosts 1..n over fresh ssh connections; returns wall time."""
    netns_ok(n)

    def one(k):
        return subprocess.run(["ssh", "-i", str(KEY), *SSH_OPTS, f"root@{host_ip(k)}", command],
                              capture_output=True, text=True, stdin=subprocess.DEVNULL)

    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=n if parallel else 1) as pool:
        results = list(pool.map(one, range(1, n + 1)))
    elapsed = time.monotonic() - start
    bad = [(k + 1, r.stderr.strip()[:200]) for k, r in enumerate(results) if r.returncode != 0]
    return elapsed, bad, results


class Series:
    """Times of one tool in one scenario, one per round, in round order."""

    def __init__(self):
        self.times = []
        self.rss = []

    def add(self, t, rss):
        self.times.append(t)
        self.rss.append(rss)


def fmt_stats(ts):
    if not ts:
        return "n/a"
    return f"{statistics.median(ts):.2f} s ({min(ts):.2f}–{max(ts):.2f})"


def ratio_stats(other, base):
    rs = [o / b for o, b in zip(other, base) if b > 0]
    if not rs:
        return None, "n/a"
    return statistics.median(rs), f"{statistics.median(rs):.1f}× ({min(rs):.1f}–{max(rs):.1f})"


def verdict(ok):
    return "pass" if ok else "MISS"


class Bench:
    def __init__(self, args):
        self.args = args
        self.work = Path(args.work)
        self.logdir = self.work / "logs" / datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
        self.logdir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env["ANSIBLE_HOST_KEY_CHECKING"] = "False"
        env["ANSIBLE_NOCOLOR"] = "1"
        env["ANSIBLE_LOCALHOST_WARNING"] = "False"
        env["ANSIBLE_PYTHON_INTERPRETER"] = "/usr/bin/python3"
        env["ANSIBLE_FORCE_COLOR"] = "0"
        env["PYTHONUNBUFFERED"] = "1"
        self.runner = Runner(self.logdir, env)
        self.etcdplay = args.etcdplay or str(REPO / "target" / "release" / "etcdplay")
        self.ansible = str(self.work / "ansible" / "bin" / "ansible-playbook")
        self.pyinfra = str(self.work / "pyinfra" / "bin" / "pyinfra")
        self.inv_dir = self.work / "inventories"
        self.results = {}  # (scenario, tool) -> Series
        self.floor = {}    # n -> [times]
        self.notes = []

    def series(self, scenario, tool):
        return self.results.setdefault((scenario, tool), Series())

    def first_rss(self, n):
        """The peak RSS of etcdplay's first run at `n` hosts (it counts like any other)."""
        first = self.results.get((f"fleet-{n} first run", "etcdplay"))
        return first.rss if first else []

    def inv(self, n):
        return str(self.inv_dir / f"hosts-{n}.yml")

    def pyinfra_inventory(self, n):
        path = self.inv_dir / f"pyinfra-{n}.py"
        lines = ["# Written by bench.py: the benchmark lab hosts for pyinfra.", "hosts = ["]
        for k in range(1, n + 1):
            lines.append(
                f"    ('{PREFIX}{k}', {{'ssh_hostname': '{host_ip(k)}', 'ssh_user': 'root', "
                f"'ssh_key': '{KEY}', 'ssh_strict_host_key_checking': 'no', "
                f"'ssh_known_hosts_file': '/dev/null'}}),")
        lines.append("]")
        path.write_text("\n".join(lines) + "\n")
        return str(path)

    def load_progress(self, text):
        """Rebuilds results from the per-run lines a run printed (for runs cut short)."""
        for m in PROGRESS.finditer(text):
            scenario, tool, kind, t, rss = m.groups()
            kind = "converge" if kind == "converge" else "no-change"
            self.series(f"{scenario} {kind}", tool).add(float(t), float(rss))
        for m in FLOOR_LINE.finditer(text):
            self.floor.setdefault(int(m.group(1)), []).append(float(m.group(2)))

    # -- tools --------------------------------------------------------------------------

    def run_tool(self, tool, scenario, n, want_change, series=None):
        netns_ok(n)
        kind = series or ('converge' if want_change else 'nochange')
        label = f"{scenario}-{tool}-{kind.replace(' ', '-')}"
        if scenario.startswith("etcd"):
            play = str(REPO / "tests" / "e2e" / "etcd-role" / "site.yml")
            invs = ["-i", self.inv(n), "-i", str(REPO / "inventories" / "etcds-alias.ini")]
        else:
            play = str(BENCH_DIR / "fleet" / "fleet.yml")
            invs = ["-i", self.inv(n)]
        kex = self.kex_extra_vars()
        if tool == "etcdplay":
            argv = [self.etcdplay, "apply", *invs, *kex, "--host-key-checking", "off", play]
        elif tool == "ansible":
            argv = [self.ansible, *invs, *kex, play]
        elif tool == "ansible-f50":
            argv = [self.ansible, "-f", "50", *invs, *kex, play]
        elif tool == "pyinfra":
            argv = [self.pyinfra, "-y", "--parallel", "50", self.pyinfra_inventory(n), "deploy.py"]
        else:
            raise ValueError(tool)
        cwd = str(BENCH_DIR / "fleet") if tool == "pyinfra" else None
        t, rc, rss, text, log = self.runner.run(label, argv, cwd=cwd)
        if rc != 0:
            raise BenchFailure(f"{label}: exit {rc} (see {log})")
        if tool == "pyinfra":
            check_pyinfra(text, log, want_change)
        else:
            check_recap(label, text, log, n, want_change)
        self.series(f"{scenario} {series or ('converge' if want_change else 'no-change')}",
                    tool).add(t, rss)
        print(f"  {label:<40} {t:7.2f} s  rss {rss:6.1f} MB", flush=True)
        return t

    def kex_extra_vars(self):
        """The same ssh key exchange for every tool: `-e ansible_ssh_common_args` for etcdplay
        and Ansible (the lab inventory's own common args kept), pyinfra's paramiko has no
        post-quantum exchange and uses curve25519-sha256 by itself, and the floor probe gets
        `-o KexAlgorithms` (see SSH_OPTS)."""
        if self.args.kex == "default":
            return []
        common = f"{LAB_COMMON_ARGS} -o KexAlgorithms={self.args.kex}"
        return ["-e", json.dumps({"ansible_ssh_common_args": common})]

    def reset(self, n, command):
        t, bad, _ = ssh_all(n, command)
        if bad:
            raise BenchFailure(f"reset failed on {bad}")

    # -- scenarios ----------------------------------------------------------------------

    def first_run(self, scenario, n, reset):
        """etcdplay's first converge on hosts it has not run on: at the end it installs its
        host agent where it is missing (a cache for later runs, as Ansible's ControlPersist
        masters are for its later runs). Timed and shown on a line of its own, not a round."""
        self.reset(n, reset)
        self.run_tool("etcdplay", scenario, n, True, series="first run")

    def etcd_role(self, rounds):
        n = 3
        print(f"== etcd role, {n} hosts, {rounds} rounds", flush=True)
        self.first_run("etcd-role", n, ETCD_RESET)
        for r in range(rounds):
            for tool in ("etcdplay", "ansible"):
                self.reset(n, ETCD_RESET)
                self.run_tool(tool, "etcd-role", n, True)
                self.run_tool(tool, "etcd-role", n, False)
        self.reset(n, ETCD_RESET)

    def fleet(self, n, rounds):
        tools = ["etcdplay", "ansible", "ansible-f50", "pyinfra"]
        if n <= 5:
            # Default forks (5) already cover every host: -f 50 would be the same run.
            tools.remove("ansible-f50")
        if n >= 100 and "ansible" in tools:
            # Five hosts at a time, 100 hosts take Ansible over five minutes a run here; its
            # -f 50 run says what Ansible can do at that size.
            tools.remove("ansible")
            self.notes.append(f"{n} hosts: ansible-playbook with its default forks (5) left "
                              "out (over five minutes a run); -f 50 measured.")
        tools = [t for t in tools if t not in self.args.skip_tool]
        print(f"== fleet, {n} hosts, {rounds} rounds: {' '.join(tools)}", flush=True)
        if "etcdplay" in tools:
            self.first_run(f"fleet-{n}", n, FLEET_RESET)
        for r in range(rounds):
            for tool in tools:
                self.reset(n, FLEET_RESET)
                self.run_tool(tool, f"fleet-{n}", n, True)
                self.run_tool(tool, f"fleet-{n}", n, False)
                if tool == "etcdplay":
                    t, bad, _ = ssh_all(n, FLOOR_PROBE)
                    if bad:
                        raise BenchFailure(f"floor probe failed on {bad}")
                    self.floor.setdefault(n, []).append(t)
                    print(f"  {'floor-' + str(n):<40} {t:7.2f} s", flush=True)

    # -- report -------------------------------------------------------------------------

    def machine(self):
        model = "unknown"
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
        mem = ""
        try:
            kb = int(Path("/proc/meminfo").read_text().split()[1])
            mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
        except (OSError, ValueError, IndexError):
            pass
        return f"{os.cpu_count()} × {model}{mem}, {platform.system()} {platform.release()}"

    def versions(self):
        def first_line(argv):
            try:
                out = subprocess.run(argv, capture_output=True, text=True, timeout=60)
                return (out.stdout or out.stderr).strip().splitlines()[0]
            except (OSError, IndexError, subprocess.TimeoutExpired):
                return "?"
        return (f"etcdplay {first_line([self.etcdplay, '--version'])}; "
                f"{first_line([self.ansible, '--version'])}; "
                f"pyinfra {first_line([self.pyinfra, '--version'])}")

    def table(self):
        out = []
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
        out.append(f"Benchmark run {now} on {self.machine()}.")
        out.append(f"Tools: {self.versions()}.")
        out.append("Times are wall clock; median (min–max). Ratio = other tool ÷ etcdplay, "
                   "computed round by round; median (min–max).")
        out.append("")
        out.append("| scenario | tool | rounds | time | ratio vs etcdplay |")
        out.append("| --- | --- | --- | --- | --- |")
        for (scenario, tool), s in self.results.items():
            base = self.results.get((scenario, "etcdplay"))
            ratio = "—" if tool == "etcdplay" or base is None else ratio_stats(s.times, base.times)[1]
            out.append(f"| {scenario} | {tool} | {len(s.times)} | {fmt_stats(s.times)} | {ratio} |")
        for n, ts in sorted(self.floor.items()):
            base = self.results.get((f"fleet-{n} no-change", "etcdplay"))
            rel = ratio_stats(base.times, ts)[1] if base else "n/a"
            out.append(f"| fleet-{n} SSH floor ({n} parallel fresh ssh + probes) | ssh | {len(ts)} | "
                       f"{fmt_stats(ts)} | etcdplay no-change ÷ floor: {rel} |")
        out.append("")
        out.append("| target | measured | verdict |")
        out.append("| --- | --- | --- |")
        for line in self.targets():
            out.append(line)
        rss = [(n, max(self.results[(f"fleet-{n} {k}", "etcdplay")].rss
                       + self.first_rss(n)))
               for n in sorted(self.floor) for k in ("converge",)
               if (f"fleet-{n} {k}", "etcdplay") in self.results]
        if rss:
            out.append("")
            out.append("etcdplay peak RSS (wait4 ru_maxrss, largest single process incl. reaped ssh "
                       "children), fleet converge and first run: " + ", ".join(f"{n} hosts {m:.1f} MB" for n, m in rss))
        for note in self.notes:
            out.append("")
            out.append(note)
        return "\n".join(out)

    def targets(self):
        rows = []

        def med(scenario, tool):
            s = self.results.get((scenario, tool))
            return statistics.median(s.times) if s and s.times else None

        def ratio(scenario, tool):
            s, b = self.results.get((scenario, tool)), self.results.get((scenario, "etcdplay"))
            return ratio_stats(s.times, b.times)[0] if s and b else None

        def add(name, value, goal, fmt="{:.1f}×", higher=True):
            if value is None:
                rows.append(f"| {name} | not measured | — |")
                return
            ok = value >= goal if higher else value <= goal
            rows.append(f"| {name} | {fmt.format(value)} | {verdict(ok)} |")

        # Issue #18's targets.
        add("etcd role no-change ≥20× faster than ansible-playbook",
            ratio("etcd-role no-change", "ansible"), 20)
        add("etcd role converge ≥10× faster than ansible-playbook",
            ratio("etcd-role converge", "ansible"), 10)
        for n in (10, 30, 100):
            if n not in self.floor:
                continue
            e, f = med(f"fleet-{n} no-change", "etcdplay"), self.floor.get(n)
            add(f"fleet-{n} no-change within 1.3× of the SSH floor",
                e / statistics.median(f) if e and f else None, 1.3, "{:.2f}×", higher=False)
            if n in (10, 30):
                add(f"fleet-{n} converge ≥3× vs pyinfra", ratio(f"fleet-{n} converge", "pyinfra"), 3)
            add(f"fleet-{n} no-change ≥20× vs ansible -f 50",
                ratio(f"fleet-{n} no-change", "ansible-f50"), 20)
        if 3 in self.floor and 30 in self.floor:
            e3, e30 = med("fleet-3 no-change", "etcdplay"), med("fleet-30 no-change", "etcdplay")
            growth = statistics.median(self.floor[30]) - statistics.median(self.floor[3])
            if e3 and e30:
                limit = 2 * e3 + growth
                rows.append(f"| etcdplay no-change at 30 hosts ≤ 2× its 3-host time + floor growth "
                            f"({2 * e3:.2f} + {growth:.2f} = {limit:.2f} s) | {e30:.2f} s | "
                            f"{verdict(e30 <= limit)} |")
        for n in (30, 100):
            conv = self.results.get((f"fleet-{n} converge", "etcdplay"))
            nochange = self.results.get((f"fleet-{n} no-change", "etcdplay"))
            if conv:
                peak = max(conv.rss + (nochange.rss if nochange else []) + self.first_rss(n))
                add(f"etcdplay peak RSS at {n} hosts ≤64 MB", peak, 64, "{:.1f} MB", higher=False)
        return rows


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", default=os.environ.get("ETCDPLAY_BENCH_DIR", "/var/tmp/etcdplay-bench"))
    p.add_argument("--sizes", default="3,10,30", help="fleet sizes, comma separated")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--rounds-30", type=int, default=3,
                   help="rounds at 30 hosts and more (slow for Ansible)")
    p.add_argument("--etcd-rounds", type=int, default=5)
    p.add_argument("--skip", default="", help="comma list of: etcd, fleet")
    p.add_argument("--skip-tool", default="", help="comma list of tools left out of the fleet runs")
    p.add_argument("--out", default=None, help="also write the table here")
    p.add_argument("--lab-tool", help="the etcdplay-bench-lab binary")
    p.add_argument("--etcdplay", default=None, help="etcdplay binary (default: target/release)")
    p.add_argument("--from-log", action="append", default=[],
                   help="only re-tabulate the progress output (stdout) of earlier runs; may repeat")
    p.add_argument("--keep-lab", action="store_true", help="leave the lab up at the end")
    p.add_argument("--kex", default="curve25519-sha256",
                   help="ssh KexAlgorithms for every tool and the floor ('default': each "
                        "client's own; OpenSSH 9's sntrup761 hybrid costs ~0.12 s of client CPU "
                        "per connection, and pyinfra/paramiko cannot use it)")
    args = p.parse_args()
    args.skip = [s for s in args.skip.split(",") if s]
    args.skip_tool = [s for s in args.skip_tool.split(",") if s]
    if args.kex != "default":
        SSH_OPTS.extend(["-o", f"KexAlgorithms={args.kex}"])
    sizes = [int(s) for s in args.sizes.split(",") if s]
    bench = Bench(args)
    if args.from_log:
        for path in args.from_log:
            bench.load_progress(Path(path).read_text())
        bench.notes.append(ANSIBLE_NOTE)
        print(bench.table())
        return 0
    if not args.lab_tool:
        p.error("--lab-tool is required")
    print(f"logs: {bench.logdir}", flush=True)
    hosts = max(sizes + [3])
    print(f"== lab up {hosts} ({PREFIX}1..{PREFIX}{hosts})", flush=True)
    t, rc, _, _, log = bench.runner.run("lab-up", [args.lab_tool, "up", str(hosts), str(bench.inv_dir)])
    if rc != 0:
        print(f"lab up failed (see {log})", file=sys.stderr)
        return 1
    print(f"  lab up took {t:.1f} s", flush=True)
    try:
        if "etcd" not in args.skip:
            bench.etcd_role(args.etcd_rounds)
        if "fleet" not in args.skip:
            for n in sizes:
                rounds = args.rounds_30 if n >= 30 else args.rounds
                if n >= 30 and rounds < 5:
                    bench.notes.append(f"{n} hosts: {rounds} rounds only (time budget).")
                bench.fleet(n, rounds)
    except BenchFailure as e:
        bench.notes.append(f"Stopped early: {e}")
        print(f"FAILED: {e}", file=sys.stderr, flush=True)
    finally:
        if not args.keep_lab:
            bench.runner.run("lab-down", [args.lab_tool, "down"])
    bench.notes.append(ANSIBLE_NOTE)
    if args.kex != "default":
        bench.notes.append(KEX_NOTE.replace("given by --kex (default curve25519-sha256)", args.kex))
    table = bench.table()
    print()
    print(table)
    if args.out:
        Path(args.out).write_text(table + "\n")
    return 0 if not any(n.startswith("Stopped early") for n in bench.notes) else 1


if __name__ == "__main__":
    sys.exit(main())
