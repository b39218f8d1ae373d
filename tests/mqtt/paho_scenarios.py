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


def tls(c):
    """Over TLS when AIOT_PAHO_TLS_CA names the CA file (AIOT_PAHO_TLS_CERT/_KEY: a client
    certificate), as the broker's TLS test runs these scenarios."""
    ca = os.environ.get("AIOT_PAHO_TLS_CA")
    if ca:
        c.tls_set(ca_certs=ca, certfile=os.environ.get("AIOT_PAHO_TLS_CERT"),
                  keyfile=os.environ.get("AIOT_PAHO_TLS_KEY"))


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
    tls(c)
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
    # Each worker also has a marker topic of its own: published after the jobs, a marker reaches
    # its worker after any job the broker sent it, so no quiet window is needed to see extras.
    subscribe(a, "shm/a", 1)
    subscribe(b, "shm/b", 1)
    pub = client("paho-share-pub", 5)
    for i in range(10):
        pub.publish("sh/t", "s%d" % i, qos=1).wait_for_publish()
    for topic in ("shm/a", "shm/b"):
        pub.publish(topic, "marker", qos=1).wait_for_publish()
    deadline = time.time() + TIMEOUT
    while time.time() < deadline and not all(
        any(m.topic.startswith("shm/") for m in w.got) for w in (a, b)
    ):
        time.sleep(0.05)
    jobs = [m for w in (a, b) for m in w.got if m.topic.startswith("sh/")]
    got_a = sum(1 for m in a.got if m.topic.startswith("sh/"))
    print("total", len(jobs), "both", got_a > 0 and len(jobs) - got_a > 0)
    stop(a, b, pub)


def receive_maximum():
    """A v5 subscriber with Receive Maximum 2 whose PUBACKs go out only 0.3 s after each PUBLISH.

    It counts the PUBLISH packets it has received minus the PUBACKs it has handed to paho: the
    broker can have sent at most that many plus the acks still on their way, so a count above 2
    means the broker had more than 2 unacknowledged (and paho never acks early)."""
    cid = "paho-rm-sub"
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 300
    props.ReceiveMaximum = 2
    c = client(cid, 5, props=props)
    subscribe(c, "rm/t", 1)
    stop(c)
    # Ten messages wait in the offline session: on resume the broker could send them all at once.
    pub = client("paho-rm-pub", 5)
    for i in range(10):
        pub.publish("rm/t", "m%d" % i, qos=1).wait_for_publish()
    stop(pub)

    lock = threading.Lock()
    state = {"received": 0, "acked": 0, "max_unacked": 0}
    held = []  # (due time, mid)
    done = threading.Event()

    c = mqtt.Client(client_id=cid, protocol=mqtt.MQTTv5)
    send_puback = c._send_puback  # paho 1.6 acks in its network thread after on_message

    def deferred_puback(mid):
        with lock:
            held.append((time.time() + 0.3, mid))
        return mqtt.MQTT_ERR_SUCCESS

    def release():
        while not done.is_set():
            now = time.time()
            with lock:
                due = [m for t, m in held if t <= now]
                held[:] = [(t, m) for t, m in held if t > now]
                state["acked"] += len(due)
            for mid in due:
                send_puback(mid)
            time.sleep(0.02)

    got = []
    cv = threading.Condition()
    connected = threading.Event()

    def on_connect(cl, userdata, flags, rc, properties=None):
        c.session_present = flags.get("session present", 0)
        connected.set()

    def on_message(cl, userdata, msg):
        with lock:
            state["received"] += 1
            unacked = state["received"] - state["acked"]
            state["max_unacked"] = max(state["max_unacked"], unacked)
        with cv:
            got.append(msg.payload.decode())
            cv.notify_all()

    c._send_puback = deferred_puback
    c.on_connect = on_connect
    c.on_message = on_message
    releaser = threading.Thread(target=release, daemon=True)
    releaser.start()
    tls(c)
    c.connect(HOST, int(sys.argv[2]), keepalive=30, clean_start=False, properties=props)
    c.loop_start()
    if not connected.wait(TIMEOUT):
        raise SystemExit("no CONNACK for " + cid)
    deadline = time.time() + TIMEOUT
    with cv:
        while len(got) < 10 and time.time() < deadline:
            cv.wait(0.2)
    print("session_present", c.session_present)
    print(" ".join(got))
    print("max_unacked", state["max_unacked"])
    done.set()
    releaser.join()
    stop(c)


def server_receive_maximum(honour):
    """A v5 publisher that bursts QoS 2 messages from on_connect, so that all are written before
    any PUBREC is read. With `honour` it caps its window to the Receive Maximum of the CONNACK, as
    a paho 1.6 application has to (paho 1.6 ignores the property), and sends 20; without, it
    sends Receive Maximum + 1 at once and never a PUBREL."""
    watcher = client("paho-srm-watch", 5)
    subscribe(watcher, "srm/t", 1)
    c = mqtt.Client(client_id="paho-srm-pub", protocol=mqtt.MQTTv5, reconnect_on_failure=False)
    state = {"count": 20}
    acked = []
    disconnected = threading.Event()
    finished = threading.Event()

    def on_connect(cl, userdata, flags, rc, properties=None):
        rm = getattr(properties, "ReceiveMaximum", None)
        state["receive_maximum"] = rm
        if honour:
            cl.max_inflight_messages_set(rm)
        else:
            state["count"] = rm + 1
        for i in range(state["count"]):
            cl.publish("srm/t", "s%d" % i, qos=2)

    def on_publish(cl, userdata, mid):
        acked.append(mid)
        if len(acked) == state["count"]:
            finished.set()

    def on_disconnect(cl, userdata, rc, properties=None):
        state["disconnect"] = "0x%02X" % getattr(rc, "value", rc)
        disconnected.set()
        finished.set()

    c.on_connect = on_connect
    c.on_publish = on_publish
    c.on_disconnect = on_disconnect
    # Without `honour` paho goes on writing (PUBRELs for the PUBRECs) after the broker's
    # DISCONNECT: the broker drains its input after it, so those writes do not fail and paho reads
    # the reason code (it used to report a lost connection).
    tls(c)
    c.connect(HOST, int(sys.argv[2]), keepalive=30)
    c.loop_start()
    finished.wait(TIMEOUT)
    print("receive_maximum", state.get("receive_maximum"))
    if disconnected.is_set():
        # paho 1.6 passes a server DISCONNECT's reason code to on_disconnect.
        print("disconnected", state["disconnect"])
    else:
        print("completed", len(acked))
    c.loop_stop()
    # A marker after the publisher is done: what the watcher got before it is all it gets.
    marker = client("paho-srm-marker", 5)
    marker.publish("srm/t", "marker", qos=1).wait_for_publish()
    stop(marker)
    deadline = time.time() + TIMEOUT
    while time.time() < deadline and not any(m.payload == b"marker" for m in watcher.got):
        time.sleep(0.05)
    got = [m.payload.decode() for m in watcher.got]
    print("delivered", got.index("marker") if "marker" in got else "no marker")
    stop(watcher)


def retained():
    pub = client("paho-ret-pub", 5)
    pub.publish("pret/a", "kept", qos=1, retain=True).wait_for_publish()
    sub = client("paho-ret-sub1", 5)
    subscribe(sub, "pret/#", 1)
    for m in wait_messages(sub, 1):
        print("on subscribe:", m.topic, m.payload.decode(), "retain", m.retain)
    stop(sub)
    # An empty retained message clears the topic [MQTT-3.3.1-6]; it is not stored itself
    # [MQTT-3.3.1-7]. A later live message proves the new subscriber would have seen one.
    pub.publish("pret/a", b"", qos=1, retain=True).wait_for_publish()
    sub = client("paho-ret-sub2", 5)
    subscribe(sub, "pret/#", 1)
    pub.publish("pret/marker", "live", qos=1).wait_for_publish()
    # A retained message would be sent on subscribe, before the live one.
    for m in wait_messages(sub, 1)[:1]:
        print("after clear:", m.topic, m.payload.decode(), "retain", m.retain)
    stop(sub, pub)


def message_expiry():
    cid = "paho-exp-sub"
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 300
    c = client(cid, 5, props=props)
    subscribe(c, "pexp/t", 1)
    stop(c)
    pub = client("paho-exp-pub", 5)
    for payload, interval in (("short", 1), ("long", 600)):
        p = Properties(PacketTypes.PUBLISH)
        p.MessageExpiryInterval = interval
        pub.publish("pexp/t", payload, qos=1, properties=p).wait_for_publish()
    stop(pub)
    # Both are queued in the offline session; let the short one outlive its interval.
    queued = time.time()
    time.sleep(2.5)
    c = client(cid, 5, clean=False, props=props)
    print("session_present", c.session_present)
    msgs = wait_messages(c, 1)
    waited = time.time() - queued
    # QoS 1 keeps its order, so an undropped "short" would come first.
    for m in msgs[:1]:
        left = getattr(m.properties, "MessageExpiryInterval", None)
        # The remaining interval, reduced by the time spent queued [MQTT-3.3.2-6].
        ok = left is not None and 600 - waited - 60 <= left <= 600 - 2
        print(m.topic, m.payload.decode(), "expiry decremented" if ok else "expiry %r" % left)
    stop(c)


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
    elif scenario == "receive_maximum":
        receive_maximum()
    elif scenario == "server_receive_maximum":
        server_receive_maximum(True)
    elif scenario == "server_receive_maximum_ignored":
        server_receive_maximum(False)
    elif scenario == "retained":
        retained()
    elif scenario == "message_expiry":
        message_expiry()
    else:
        raise SystemExit("unknown scenario " + scenario)


if __name__ == "__main__":
    main()
