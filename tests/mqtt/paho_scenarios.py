#!/usr/bin/python3
"""Interop scenarios with Eclipse Paho (python3-paho-mqtt 1.6, Debian) against a broker.

Usage: paho_scenarios.py SCENARIO PORT. Prints what the clients observed; the C++ test compares.
"""
import os
import sys
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

HOST = "127.0.0.1"
TIMEOUT = 30


def client(cid, version, clean=True, props=None, will=None):
    if version == 5:
        c = mqtt.Client(client_id=cid, protocol=mqtt.MQTTv5)
    else:
        c = mqtt.Client(client_id=cid, protocol=mqtt.MQTTv311, clean_session=clean)
    c.got = []
    c.cv = threading.Condition()
    c.connected = threading.Event()
    c.subscribed = threading.Event()

    def on_message(cl, userdata, msg):
        with c.cv:
            c.got.append(msg)
            c.cv.notify_all()

    def on_connect(cl, userdata, flags, rc, properties=None):
        c.session_present = flags.get("session present", 0)
        c.connected.set()

    def on_subscribe(cl, userdata, mid, granted, properties=None):
        c.subscribed.set()

    c.on_message = on_message
    c.on_connect = on_connect
    c.on_subscribe = on_subscribe
    if will:
        c.will_set(*will[:4], properties=will[4] if len(will) > 4 else None)
    port = int(sys.argv[2])
    if version == 5:
        c.connect(HOST, port, keepalive=30, clean_start=clean, properties=props)
    else:
        c.connect(HOST, port, keepalive=30)
    c.loop_start()
    if not c.connected.wait(TIMEOUT):
        raise SystemExit("no CONNACK for " + cid)
    return c


def subscribe(c, filt, qos):
    c.subscribed.clear()
    c.subscribe(filt, qos)
    if not c.subscribed.wait(TIMEOUT):
        raise SystemExit("no SUBACK")


def wait_messages(c, n):
    deadline = time.time() + TIMEOUT
    with c.cv:
        while len(c.got) < n and time.time() < deadline:
            c.cv.wait(0.2)
    return list(c.got)


def stop(*clients):
    for c in clients:
        c.disconnect()
        c.loop_stop()


def roundtrip(version):
    sub = client("paho-sub-%d" % version, version)
    subscribe(sub, "pr/#", 2)
    pub = client("paho-pub-%d" % version, version)
    for q in range(3):
        pub.publish("pr/q%d" % q, "m%d" % q, qos=q).wait_for_publish()
    for m in sorted(wait_messages(sub, 3), key=lambda m: m.topic):
        print(m.topic, m.qos, m.payload.decode())
    stop(sub, pub)


def topic_alias():
    props = Properties(PacketTypes.CONNECT)
    props.TopicAliasMaximum = 5
    sub = client("paho-alias-sub", 5, props=props)
    subscribe(sub, "al/#", 0)
    pub = client("paho-alias-pub", 5)
    for i in range(3):
        p = Properties(PacketTypes.PUBLISH)
        p.TopicAlias = 1
        # Client -> broker alias: the topic only the first time, then the alias alone.
        pub.publish("al/x" if i == 0 else "", "a%d" % i, qos=1, properties=p).wait_for_publish()
    for m in wait_messages(sub, 3):
        alias = getattr(m.properties, "TopicAlias", None)
        # paho 1.6 does not resolve broker -> client aliases: an aliased PUBLISH shows topic "".
        print(repr(m.topic), alias, m.payload.decode())
    stop(sub, pub)


def will_delay():
    watcher = client("paho-watcher", 5)
    subscribe(watcher, "wd/#", 0)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 60
        wp = Properties(PacketTypes.WILLMESSAGE)
        wp.WillDelayInterval = 2
        client("paho-doomed", 5, props=props, will=("wd/will", "gone", 1, False, wp))
        os.write(w, b"x")
        time.sleep(60)
        os._exit(0)
    os.read(r, 1)
    died = time.time()
    os.kill(pid, 9)  # no DISCONNECT: the connection just ends
    os.waitpid(pid, 0)
    msgs = wait_messages(watcher, 1)
    delay = time.time() - died
    for m in msgs:
        print(m.topic, m.payload.decode(), "after-delay" if delay >= 1.8 else "too-early")
    stop(watcher)


def session_resume(version):
    cid = "paho-resume-%d" % version
    props = None
    if version == 5:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 300
    # v5: a new session that outlives the connection (Session Expiry); 3.1.1: clean session 0.
    c = client(cid, version, clean=(version == 5), props=props)
    subscribe(c, "sr/t", 1)
    stop(c)
    pub = client("paho-resume-pub-%d" % version, version)
    for i in range(3):
        pub.publish("sr/t", "q%d" % i, qos=1).wait_for_publish()
    stop(pub)
    c = client(cid, version, clean=False, props=props)
    print("session_present", c.session_present)
    for m in wait_messages(c, 3):
        print(m.topic, m.payload.decode())
    stop(c)


def shared():
    a = client("paho-share-a", 5)
    b = client("paho-share-b", 5)
    subscribe(a, "$share/g/sh/#", 1)
    subscribe(b, "$share/g/sh/#", 1)
    pub = client("paho-share-pub", 5)
    for i in range(10):
        pub.publish("sh/t", "s%d" % i, qos=1).wait_for_publish()
    deadline = time.time() + TIMEOUT
    while len(a.got) + len(b.got) < 10 and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    print("total", len(a.got) + len(b.got), "both", len(a.got) > 0 and len(b.got) > 0)
    stop(a, b, pub)


def main():
    scenario = sys.argv[1]
    if scenario == "roundtrip311":
        roundtrip(4)
    elif scenario == "roundtrip5":
        roundtrip(5)
    elif scenario == "topic_alias":
        topic_alias()
    elif scenario == "will_delay":
        will_delay()
    elif scenario == "resume311":
        session_resume(4)
    elif scenario == "resume5":
        session_resume(5)
    elif scenario == "shared":
        shared()
    else:
        raise SystemExit("unknown scenario " + scenario)


if __name__ == "__main__":
    main()
