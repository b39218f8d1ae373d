// MQTT.js in Chromium (playwright-core driving Debian's /usr/bin/chromium, the browser bundle
// node_modules/mqtt/dist/mqtt.min.js in a blank page) through the broker's WebSocket listener: a
// subscriber and a publisher in the page on URL (ws://... or wss://...; the test CA is not in
// Chromium's store, so certificate errors are ignored for wss). Prints "topic qos payload" for
// each message received and exits 0; exits 1 on error, 77 when Chromium or playwright-core is
// missing.
//   node browser.mjs URL VERSION
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const CHROMIUM = '/usr/bin/chromium';
const [url, version] = process.argv.slice(2);
let chromium;
try {
  ({ chromium } = await import('playwright-core'));
} catch (e) {
  console.log(`SKIP: playwright-core not installed: ${e.message}`);
  process.exit(77);
}
if (!existsSync(CHROMIUM)) {
  console.log(`SKIP: ${CHROMIUM} missing`);
  process.exit(77);
}
const bundle = fileURLToPath(new URL('./node_modules/mqtt/dist/mqtt.min.js', import.meta.url));
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: ['--no-sandbox', '--ignore-certificate-errors'],
});
try {
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  const page = await context.newPage();
  await page.addScriptTag({ path: bundle });
  const got = await page.evaluate(async ([u, v]) => {
    const options = { protocolVersion: v, reconnectPeriod: 0, connectTimeout: 20000 };
    const connect = (id) => new Promise((resolve, reject) => {
      const c = window.mqtt.connect(u, { ...options, clientId: id });
      c.once('connect', () => resolve(c));
      c.once('error', (e) => reject(new Error(`${id}: ${e.message}`)));
    });
    const sub = await connect(`browser-sub-${v}`);
    const messages = [];
    const all = new Promise((resolve) => {
      sub.on('message', (topic, payload, packet) => {
        messages.push(`${topic} ${packet.qos} ${new TextDecoder().decode(payload)}`);
        if (messages.length === 3) resolve();
      });
    });
    await sub.subscribeAsync('browser/#', { qos: 2 });
    const pub = await connect(`browser-pub-${v}`);
    for (const qos of [0, 1, 2]) await pub.publishAsync(`browser/q${qos}`, `m${qos}`, { qos });
    await Promise.race([all, new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), 20000))]);
    await pub.endAsync();
    await sub.endAsync();
    return messages;
  }, [url, Number(version)]);
  console.log(got.join('\n'));
} catch (e) {
  console.log('error', e.message);
  process.exitCode = 1;
} finally {
  await browser.close();
}
