#!/usr/bin/env python3
"""Where the machine's CPU goes while the benchmark runs, by process, from /proc.

  cpu.py snapshot STATE           one line of JSON: every process's ticks, by group
  cpu.py account BEFORE AFTER     the CPU used between two snapshots, by group, in ms

The groups: order-api, inventory-worker, notification-worker (their pid files under
STATE/pids), PostgreSQL (every process of the `postgres` user named postgres), RabbitMQ
(beam.smp), the whole machine (busy ticks of /proc/stat) and the rest (the whole machine less
the groups: the load generator, the kernel's own threads, the benchmark's polls). A process
born between the snapshots counts in full; one that died between them is lost (PostgreSQL's
backends are pooled, so few do).
"""
import glob
import json
import os
import pwd
import sys

SERVICES = ["order-api", "inventory-worker", "notification-worker"]
GROUPS = SERVICES + ["PostgreSQL", "RabbitMQ"]


def ticks(pid):
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime, stime
    except (OSError, IndexError, ValueError):
        return None


def processes(user, name):
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm") as comm:
                if comm.read().strip() != name:
                    continue
            if user is not None and os.stat(f"/proc/{entry}").st_uid != user:
                continue
        except OSError:
            continue
        found.append(entry)
    return found


def snapshot(state):
    pids = {}
    for service in SERVICES:
        pids[service] = []
        for pidfile in glob.glob(f"{state}/pids/{service}-*.pid"):
            with open(pidfile) as file:
                pids[service].append(file.read().strip())
    try:
        postgres = pwd.getpwnam("postgres").pw_uid
    except KeyError:  # no such user: every process named postgres
        postgres = None
    pids["PostgreSQL"] = processes(postgres, "postgres")
    pids["RabbitMQ"] = processes(None, "beam.smp")
    groups = {group: {pid: t for pid in pids[group] if (t := ticks(pid)) is not None} for group in GROUPS}
    with open("/proc/stat") as stat:
        cpu = [int(x) for x in stat.readline().split()[1:]]
    machine = cpu[0] + cpu[1] + cpu[2] + cpu[5] + cpu[6]  # user, nice, system, irq, softirq
    return {"groups": groups, "machine": machine}


def account(before, after):
    tick_ms = 1000 / os.sysconf("SC_CLK_TCK")
    used = {}
    for group in GROUPS:
        earlier = before["groups"][group]
        used[group] = sum(t - earlier.get(pid, 0) for pid, t in after["groups"][group].items()) * tick_ms
    used["machine"] = (after["machine"] - before["machine"]) * tick_ms
    used["rest"] = used["machine"] - sum(used[group] for group in GROUPS)
    return used


if __name__ == "__main__":
    if sys.argv[1:2] == ["snapshot"] and len(sys.argv) == 3:
        print(json.dumps(snapshot(sys.argv[2])))
    elif sys.argv[1:2] == ["account"] and len(sys.argv) == 4:
        print(json.dumps(account(json.loads(sys.argv[2]), json.loads(sys.argv[3]))))
    else:
        sys.exit("usage: cpu.py snapshot STATE | cpu.py account BEFORE AFTER")
