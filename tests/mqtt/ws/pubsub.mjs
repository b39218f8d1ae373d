// MQTT.js (npm `mqtt`) through the broker's WebSocket listener: a subscriber and a publisher on
// URL (ws://... or wss://...), MQTT 3.1.1 or 5.0. Prints "topic qos payload" for each message
// received, then exits 0; exits 1 on error or after 30 s.
//   node pubsub.mjs URL VERSION [CA_FILE]
import fs from 'node:fs';
import mqtt from 'mqtt';

const [url, version, caFile] = process.argv.slice(2);
const options = {
  protocolVersion: Number(version),
  reconnectPeriod: 0,
  connectTimeout: 20000,
  ...(caFile ? { ca: fs.readFileSync(caFile) } : {}),
};
const fail = (what) => {
  console.log('error', what);
  process.exit(1);
};
setTimeout(() => fail('timeout'), 30000).unref();

const sub = mqtt.connect(url, { ...options, clientId: `js-sub-${version}` });
sub.on('error', (e) => fail(`subscriber: ${e.message}`));
const got = [];
sub.on('message', (topic, payload, packet) => {
  got.push(`${topic} ${packet.qos} ${payload.toString()}`);
  if (got.length === 3) {
    console.log(got.join('\n'));
    sub.end(false, () => process.exit(0));
  }
});
sub.on('connect', () => {
  sub.subscribe('ws/#', { qos: 2 }, (err) => {
    if (err) fail(`subscribe: ${err.message}`);
    const pub = mqtt.connect(url, { ...options, clientId: `js-pub-${version}` });
    pub.on('error', (e) => fail(`publisher: ${e.message}`));
    pub.on('connect', async () => {
      for (const qos of [0, 1, 2]) await pub.publishAsync(`ws/q${qos}`, `m${qos}`, { qos });
      pub.end();
    });
  });
});
