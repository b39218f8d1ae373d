#!/usr/bin/python3
"""Eclipse Paho (python3-paho-mqtt 1.6) logging in to a broker with a user name and password.

Usage: paho_auth.py PORT VERSION(4|5) CLIENT_ID USER|- PASSWORD|- [FILTER...]
Prints "connack <code>" (the CONNACK return / reason code as received) and, when connected and
filters are given, "suback <code> <code>..." for one SUBSCRIBE carrying every filter.
"""
import sys
import threading

import paho.mqtt.client as mqtt

port, version, cid, user, password = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
filters = sys.argv[6:]
v5 = version == 5
c = mqtt.Client(client_id=cid, protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311)
if user != "-":
    c.username_pw_set(user, None if password == "-" else password)
connected = threading.Event()
subscribed = threading.Event()
result = {}


def code(rc):
    return rc.value if hasattr(rc, "value") else int(rc)


def on_connect(cl, userdata, flags, rc, properties=None):
    result["connack"] = code(rc)
    connected.set()


def on_subscribe(cl, userdata, mid, granted, properties=None):
    result["suback"] = [code(g) for g in granted]
    subscribed.set()


c.on_connect = on_connect
c.on_subscribe = on_subscribe
c.connect("127.0.0.1", port, keepalive=30)
c.loop_start()
if not connected.wait(30):
    print("no connack")
    sys.exit(1)
print("connack", result["connack"])
if result["connack"] == 0 and filters:
    c.subscribe([(f, 1) for f in filters])
    if not subscribed.wait(30):
        print("no suback")
        sys.exit(1)
    print("suback", " ".join(str(g) for g in result["suback"]))
if result["connack"] == 0:
    c.disconnect()
c.loop_stop()
