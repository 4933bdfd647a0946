#!/usr/bin/env python3
"""Entity lookup latency on a stored run (issue #9: p99 <= 5 ms at 15M).

Starts `credo serve` over an existing data directory (a store with a
finished run, e.g. one made by `credo serve` + POST /runs, or the 1M store
of `cargo bench --bench console`), then times `GET /entities/{uscc}` over
one keep-alive connection: 150 entities spread over the latest run's
results file (the first of evenly spaced row groups) and 50 that
propagation paths touch, for several rounds, and prints each round's
p50/p99/max, the server's CPU time per request (user+system, from
/proc, 10 ms ticks over the round) and its resident memory. Each round picks other
entities (other row groups), so no round repeats a lookup.

    python3 benches/entity_lookup.py --bin target/release/credo \
        --data-dir DIR --dataset DATASET --rules rules --token TOKEN [--run 1] [--rounds 5]

The token is a regulator's (printed on the data directory's first start).
State the machine's load (uptime) with the figures: on two shared cores
the p99 is mostly the scheduler.
"""
import argparse, http.client, json, os, signal, subprocess, sys, time

a = argparse.ArgumentParser()
a.add_argument("--bin", required=True)
a.add_argument("--data-dir", required=True)
a.add_argument("--dataset", required=True)
a.add_argument("--rules", required=True)
a.add_argument("--token", required=True)
a.add_argument("--run", type=int, default=1)
a.add_argument("--rounds", type=int, default=5)
a.add_argument("--port", type=int, default=18916)
o = a.parse_args()

results = os.path.join(o.data_dir, "credo.db.results", f"run-{o.run}")
groups = json.load(open(results + ".index.json"))["groups"]
paths = [json.loads(l)["uscc"] for l in open(results + ".paths.jsonl")] if os.path.exists(results + ".paths.jsonl") else []


def cpu(pid):
    """The server's user+system CPU seconds so far (all its threads)."""
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def status(pid):
    d = {}
    for l in open(f"/proc/{pid}/status"):
        if l.startswith(("VmRSS", "VmHWM")):
            k, v = l.split(":")
            d[k] = v.strip()
    return d


log = open(os.path.join(o.data_dir, "..", f"entity_lookup.{os.getpid()}.log"), "w+")
p = subprocess.Popen([o.bin, "serve", "--lang", "en", "--data-dir", o.data_dir, "--dataset", o.dataset, "--rules", o.rules,
                      "--listen", f"127.0.0.1:{o.port}"], stdout=log, stderr=subprocess.STDOUT)
try:
    while True:
        time.sleep(0.3)
        log.seek(0)
        if "listening" in log.read():
            break
        if p.poll() is not None:
            log.seek(0)
            sys.exit("server exited: " + log.read()[-2000:])
    time.sleep(1)
    print(f"idle {status(p.pid)}; {len(groups)} row groups; load {os.getloadavg()[0]:.1f}", flush=True)
    c = http.client.HTTPConnection("127.0.0.1", o.port, timeout=120)
    for rnd in range(o.rounds):
        picks = [groups[(i * len(groups) // 150 + rnd * 7) % len(groups)]["first"] for i in range(150)]
        if paths:
            picks += [paths[(i * len(paths) // 50 + rnd * 3) % len(paths)] for i in range(50)]
        lat = []
        cpu0 = cpu(p.pid)
        for u in picks:
            t = time.perf_counter()
            c.request("GET", f"/entities/{u}", headers={"Authorization": f"Bearer {o.token}"})
            r = c.getresponse()
            r.read()
            lat.append((time.perf_counter() - t) * 1e3)
            assert r.status == 200, (r.status, u)
        spent = (cpu(p.pid) - cpu0) * 1e3 / len(lat)
        lat.sort()
        print(f"round {rnd + 1}: GET /entities/{{uscc}} n={len(lat)} p50 {lat[len(lat) // 2]:.2f} ms "
              f"p99 {lat[int(len(lat) * 0.99) - 1]:.2f} ms max {lat[-1]:.2f} ms; server CPU {spent:.2f} ms/request; load {os.getloadavg()[0]:.1f}; {status(p.pid)}", flush=True)
finally:
    p.send_signal(signal.SIGTERM)
    p.wait()
    os.unlink(log.name)
