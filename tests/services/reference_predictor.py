# A predictor written like the reference's (janakiramm/aiot predict/src/predict.py): it subscribes
# to the telemetry topic with paho-mqtt, calls the scoring service's POST /score once per message
# and publishes {"deviceID", "fault"} on the prediction topic. Standard library HTTP (urllib) in
# place of `requests`; MQTT_PORT added so tests can use a free port.
import json
import os
import sys
import urllib.request

import paho.mqtt.client as mqtt

broker_address = os.getenv('MQTT_HOST', '127.0.0.1')
broker_port = int(os.getenv('MQTT_PORT', '1883'))
dev_topic = os.getenv('MQTT_DEV_TOPIC', 'fan/messages')
pred_topic = os.getenv('MQTT_PREDICT_TOPIC', 'fan/anomaly')
scoring_url = os.getenv('SCORING_URL', 'http://127.0.0.1:8080/score')
d = {}

client = mqtt.Client("pdm")


def score(telemetry):
    req = urllib.request.Request(scoring_url, data=json.dumps({"params": telemetry}).encode(),
                                 headers={'Content-Type': 'application/json'})
    with urllib.request.urlopen(req) as response:
        return json.loads(response.read())["fault"]


def on_message(mosq, obj, msg):
    rotation = json.loads(msg.payload)["rotation"]
    temperature = json.loads(msg.payload)["temperature"]
    vibration = json.loads(msg.payload)["vibration"]
    sound = json.loads(msg.payload)["sound"]
    telemetry = [rotation, temperature, vibration, sound]
    fault = score(telemetry)

    d["deviceID"] = json.loads(msg.payload)["deviceID"]
    d["fault"] = fault

    payload = json.dumps(d, ensure_ascii=False)
    client.publish(pred_topic, payload)


def on_subscribe(mosq, obj, mid, granted_qos):
    print("Subscribed: " + str(mid) + " " + str(granted_qos), flush=True)


client.on_message = on_message
client.on_subscribe = on_subscribe
client.connect(broker_address, broker_port)
client.subscribe(dev_topic, 0)

while True:
    client.loop()
