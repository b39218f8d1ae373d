#!/usr/bin/python3
"""Crash test of the broker's persistence (issue 15's must-show), with real clients (paho 1.6).

A persistent subscriber (clean_session=False) subscribes to crash/q1/# (QoS 1) and crash/q2/#
(QoS 2), sets a retained message and goes offline. Then, several times: `aiot broker` starts on
the same persistence directory, a QoS 1 and a QoS 2 publisher publish numbered messages at full
speed, and the broker is killed with SIGKILL at a random moment (seeded). Every message whose
PUBACK / PUBCOMP the publisher saw is recorded as acknowledged. Finally the broker starts once
more and the subscriber resumes its session (without subscribing again): every acknowledged
message must arrive, QoS 2 ones exactly once, and the retained message must be there. Then the
log is truncated (a torn tail: the broker starts) and corrupted (the broker refuses to start
with a clear error; with --recover it starts).

Usage: persistence_crash.py --aiot build/rel/src/cli/aiot [--seed 1] [--iterations 5]
"""
import argparse
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import paho.mqtt.client as mqtt

DEADLINE_S = 30  # for any one wait


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(cond, what, timeout=DEADLINE_S):
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.01)


class Broker:
    def __init__(self, aiot, port, pdir, mode, logdir):
        self.aiot, self.port, self.pdir, self.mode, self.logdir = aiot, port, pdir, mode, logdir
        self.proc = None
        self.starts = 0

    def args(self, extra=()):
        return [self.aiot, "--set", "threads=2", "broker",
                "--set", "broker.listeners=[127.0.0.1:%d]" % self.port,
                "--set", "broker.persistence.mode=" + self.mode,
                "--set", "broker.persistence.dir=" + self.pdir,
                "--set", "broker.max_queued_messages=0",
                "--set", "broker.sys_interval=0"] + list(extra)

    def start(self, extra=()):
        self.starts += 1
        log = open(os.path.join(self.logdir, "broker-%d.log" % self.starts), "w")
        t0 = time.monotonic()
        self.proc = subprocess.Popen(self.args(extra), stdout=log, stderr=subprocess.STDOUT)

        def up():
            if self.proc.poll() is not None:
                raise AssertionError("broker exited with %d, see %s" % (self.proc.returncode, log.name))
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", self.port)) == 0
        wait_for(up, "the broker to listen")
        return time.monotonic() - t0

    def run_to_exit(self, extra=()):
        """Starts the broker expecting it to refuse: returns (exit code, output)."""
        p = subprocess.run(self.args(extra), capture_output=True, text=True, timeout=DEADLINE_S)
        return p.returncode, p.stdout + p.stderr

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=DEADLINE_S)


def connect(client_id, port, clean):
    c = mqtt.Client(client_id=client_id, clean_session=clean, protocol=mqtt.MQTTv311)
    connected = threading.Event()
    c.on_connect = lambda cl, u, flags, rc: connected.set() if rc == 0 else None
    c.connect("127.0.0.1", port, keepalive=30)
    c.loop_start()
    if not connected.wait(DEADLINE_S):
        raise AssertionError(client_id + ": no CONNACK")
    return c


class Publisher(threading.Thread):
    """Publishes crash/q<qos>/<seq> at full speed (at most `window` unacknowledged)."""

    def __init__(self, port, qos, first_seq, acked):
        super().__init__(daemon=True)
        self.port, self.qos, self.seq, self.acked = port, qos, first_seq, acked
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.by_mid = {}
        self.early = set()  # acknowledged before publish() returned its mid
        self.outstanding = threading.Semaphore(200)

    def done(self, seq):
        self.acked.add(seq)  # PUBACK (QoS 1) / PUBCOMP (QoS 2) seen
        self.outstanding.release()

    def on_publish(self, client, userdata, mid):
        with self.lock:
            seq = self.by_mid.pop(mid, None)
            if seq is None:
                self.early.add(mid)
        if seq is not None:
            self.done(seq)

    def run(self):
        c = mqtt.Client(client_id="crash-pub-q%d" % self.qos, clean_session=True,
                        protocol=mqtt.MQTTv311)
        c.max_inflight_messages_set(100)
        c.on_publish = self.on_publish
        try:
            c.connect("127.0.0.1", self.port, keepalive=30)
        except OSError:
            return
        c.loop_start()
        while not self.stop.is_set():
            if not self.outstanding.acquire(timeout=0.05):
                continue
            # Not under self.lock: paho calls on_publish holding its own lock.
            info = c.publish("crash/q%d/x" % self.qos, str(self.seq), qos=self.qos)
            if info.rc != mqtt.MQTT_ERR_SUCCESS and info.rc != mqtt.MQTT_ERR_NO_CONN:
                break
            with self.lock:
                early = info.mid in self.early
                if early:
                    self.early.discard(info.mid)
                else:
                    self.by_mid[info.mid] = self.seq
            if early:
                self.done(self.seq)
            self.seq += 1
        c.loop_stop()


def check_torn_and_corrupt(broker, pdir):
    log = os.path.join(pdir, "broker.log")
    # Torn tail: a record cut short is what kill -9 / a power cut leaves: the broker starts.
    size = os.path.getsize(log)
    with open(log, "r+b") as f:
        f.truncate(size - 3)
    broker.start()
    broker.stop()
    out = open(os.path.join(broker.logdir, "broker-%d.log" % broker.starts)).read()
    assert "torn tail" in out, out
    # Corruption in the middle of the log: refuses to start, says where, leaves the file alone.
    with open(log, "r+b") as f:
        data = bytearray(f.read())
        at = len(data) // 2
        data[at] ^= 0xFF
        f.seek(0)
        f.write(data)
    code, out = broker.run_to_exit()
    assert code != 0, "the broker started on a corrupt log"
    assert "corrupt record at offset" in out and "--recover" in out, out
    assert "Segmentation" not in out and code > 0, (code, out)
    with open(log, "rb") as f:
        assert f.read() == bytes(data), "a refused start changed the log"
    # --recover: starts, skipping and counting the corrupt bytes.
    broker.start(["--recover"])
    broker.stop()
    out = open(os.path.join(broker.logdir, "broker-%d.log" % broker.starts)).read()
    assert "bytes skipped" in out, out
    print("torn tail cut, corruption refused then recovered")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--aiot", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--iterations", type=int, default=5)
    ap.add_argument("--mode", default="every_ack")
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    work = tempfile.mkdtemp(prefix="aiot-crash-")
    pdir = os.path.join(work, "persist")
    port = free_port()
    broker = Broker(a.aiot, port, pdir, a.mode, work)
    ok = False
    try:
        broker.start()
        sub = connect("crash-sub", port, clean=False)
        subscribed = threading.Event()
        sub.on_subscribe = lambda *args: subscribed.set()
        sub.subscribe([("crash/q1/#", 1), ("crash/q2/#", 2)])
        assert subscribed.wait(DEADLINE_S), "no SUBACK"
        sub.publish("crash/retained", "R", qos=1, retain=True).wait_for_publish()
        sub.disconnect()
        sub.loop_stop()

        acked = {1: set(), 2: set()}
        next_seq = {1: 0, 2: 0}
        for i in range(a.iterations):
            if i > 0:
                broker.start()
            before = {q: len(acked[q]) for q in (1, 2)}
            pubs = [Publisher(port, q, next_seq[q], acked[q]) for q in (1, 2)]
            for p in pubs:
                p.start()
            wait_for(lambda: all(len(acked[q]) > before[q] for q in (1, 2)), "first acks")
            time.sleep(rnd.uniform(0.2, 1.5))  # the random moment of the crash (not a sync)
            broker.kill9()
            for p in pubs:
                p.stop.set()
                p.join(DEADLINE_S)
                next_seq[p.qos] = p.seq
            print("iteration %d: killed; acknowledged so far q1=%d q2=%d" %
                  (i, len(acked[1]), len(acked[2])))
        assert acked[1] and acked[2], "nothing was acknowledged"

        elapsed = broker.start()
        print("restart with %d queued messages took %.2f s" %
              (len(acked[1]) + len(acked[2]), elapsed))
        got = {1: [], 2: []}
        retained = []
        lock = threading.Lock()

        def on_message(client, userdata, m):
            with lock:
                if m.topic == "crash/retained":
                    retained.append(m.payload.decode())
                elif m.topic.startswith("crash/q"):
                    got[int(m.topic[7])].append(int(m.payload))
        sub = mqtt.Client(client_id="crash-sub", clean_session=False, protocol=mqtt.MQTTv311)
        present = []
        sub.on_connect = lambda cl, u, flags, rc: present.append(flags.get("session present"))
        sub.on_message = on_message
        sub.max_inflight_messages_set(100)
        sub.connect("127.0.0.1", port, keepalive=30)
        sub.loop_start()
        wait_for(lambda: present, "CONNACK")
        assert present[0] == 1, "the persistent session was not restored"

        def has_all():
            with lock:
                return all(acked[q] <= set(got[q]) for q in (1, 2))
        wait_for(has_all, "every acknowledged message", timeout=120)
        # Subscriptions intact: a new message reaches the resumed session without SUBSCRIBE.
        sub.publish("crash/q1/after", "-1", qos=1).wait_for_publish()
        wait_for(lambda: -1 in got[1], "a message published after the restart")
        r = connect("crash-reader", port, clean=True)
        r.on_message = on_message
        r.subscribe("crash/retained", 1)
        wait_for(lambda: retained == ["R"], "the retained message")
        r.disconnect()
        sub.disconnect()
        sub.loop_stop()
        dup2 = len(got[2]) - len(set(got[2]))
        assert dup2 == 0, "%d QoS 2 duplicates" % dup2
        print("delivered: q1 %d (acknowledged %d), q2 %d (acknowledged %d), no QoS 2 duplicate" %
              (len(set(got[1]) - {-1}), len(acked[1]), len(got[2]), len(acked[2])))
        broker.stop()
        check_torn_and_corrupt(broker, pdir)
        ok = True
    finally:
        if broker.proc and broker.proc.poll() is None:
            broker.proc.kill()
            broker.proc.wait()
        if ok:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print("kept for inspection: " + work, file=sys.stderr)
    print("PASS")


if __name__ == "__main__":
    main()
