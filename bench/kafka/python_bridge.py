#!/usr/bin/python3
"""The MQTT -> Kafka bridge users write today, as the benchmark's peer for `aiot bridge`:
python3-paho-mqtt (1.6) subscribes at QoS 1, python3-confluent-kafka produces (idempotent,
acks=all). At-least-once the only way paho 1.6 allows: it sends the PUBACK when on_message
returns, so on_message waits for Kafka's delivery report (produce + flush) before returning.

  python_bridge.py --mqtt-port 1883 --kafka 127.0.0.1:9092 --filter bench/# --topic aiot.bench
"""
import argparse
import signal
import sys

import paho.mqtt.client as mqtt
from confluent_kafka import Producer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mqtt-port", type=int, required=True)
    ap.add_argument("--kafka", required=True)
    ap.add_argument("--filter", default="bench/#")
    ap.add_argument("--topic", default="aiot.bench")
    ap.add_argument("--client-id", default="python-bridge")
    args = ap.parse_args()

    producer = Producer({"bootstrap.servers": args.kafka, "enable.idempotence": True,
                         "acks": "all", "linger.ms": 0})
    failed = []

    def delivered(err, _msg):
        if err is not None:
            failed.append(err)

    def on_message(_client, _userdata, msg):
        key = msg.topic.rsplit("/", 1)[-1].encode()
        producer.produce(args.topic, value=msg.payload, key=key,
                         headers=[("mqtt.topic", msg.topic.encode())], on_delivery=delivered)
        producer.flush()  # ack-after-delivery: the PUBACK goes out when this returns
        if failed:
            print("delivery failed:", failed.pop(), file=sys.stderr, flush=True)

    def on_connect(client, _userdata, _flags, rc):
        if rc == 0:
            client.subscribe(args.filter, qos=1)
            print("ready", flush=True)

    client = mqtt.Client(client_id=args.client_id, clean_session=False)
    client.max_inflight_messages_set(100)
    client.on_connect = on_connect
    client.on_message = on_message
    signal.signal(signal.SIGTERM, lambda *_: client.disconnect())
    client.connect("127.0.0.1", args.mqtt_port)
    client.loop_forever()
    producer.flush(10)


if __name__ == "__main__":
    main()
