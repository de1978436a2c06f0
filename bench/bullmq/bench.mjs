// BullMQ's side of bench/run.py's queue rows: the same no-op jobs, the same
// redis-server, the same measurements as bench/queue_bench.cpp.
//
//   node bench.mjs produce --port P --queue Q --jobs N
//   node bench.mjs work    --port P --queue Q --concurrency C --total N
//       prints `ready_us,last_done_us,done` (wall-clock microseconds)
//   node bench.mjs latency --port P --queue Q --concurrency C --jobs N --rate R
//       prints `p50_us,p99_us` of add -> processor start
import { Queue, Worker } from "bullmq";

const args = Object.fromEntries(
  process.argv.slice(3).reduce((acc, v, i, a) => (i % 2 === 0 ? [...acc, [a[i].replace(/^--/, ""), a[i + 1]]] : acc), []),
);
const mode = process.argv[2];
const connection = { host: "127.0.0.1", port: Number(args.port), maxRetriesPerRequest: null };
const name = args.queue || "bench";
const nowUs = () => Math.round((performance.timeOrigin + performance.now()) * 1000);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function produce() {
  const q = new Queue(name, { connection });
  const n = Number(args.jobs);
  for (let i = 0; i < n; i += 1000) {
    const batch = [];
    for (let j = i; j < Math.min(n, i + 1000); j++) batch.push({ name: "noop", data: {} });
    await q.addBulk(batch);
  }
  await q.close();
}

async function finals(q) {
  const c = await q.getJobCounts("completed", "failed");
  return c.completed + c.failed;
}

async function work() {
  const total = Number(args.total);
  const q = new Queue(name, { connection });
  let done = 0;
  let last = 0;
  const w = new Worker(name, async () => {}, { connection, concurrency: Number(args.concurrency) });
  w.on("completed", () => {
    done++;
    last = nowUs();
  });
  await w.waitUntilReady();
  const ready = nowUs();
  while ((await finals(q)) < total) await sleep(20);
  await w.close();
  await q.close();
  console.log(`${ready},${last},${done}`);
}

async function latency() {
  const n = Number(args.jobs);
  const rate = Number(args.rate);
  const lat = [];
  const w = new Worker(
    name,
    async (job) => {
      lat.push(nowUs() - job.data.t);
    },
    { connection, concurrency: Number(args.concurrency) },
  );
  await w.waitUntilReady();
  const q = new Queue(name, { connection });
  const start = performance.now();
  for (let i = 0; i < n; i++) {
    // Paced submission (open loop): the i-th job at i / rate.
    const due = start + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    await q.add("noop", { t: nowUs() });
  }
  while (lat.length < n) await sleep(5);
  await w.close();
  await q.close();
  lat.sort((a, b) => a - b);
  const at = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))];
  console.log(`${at(0.5)},${at(0.99)}`);
}

const modes = { produce, work, latency };
if (!modes[mode]) {
  console.error("usage: node bench.mjs produce|work|latency --port P [--queue Q] [--jobs N] [--concurrency C] [--total N] [--rate R]");
  process.exit(2);
}
modes[mode]().then(
  () => process.exit(0),
  (e) => {
    console.error(`bench.mjs: ${e.stack || e}`);
    process.exit(1);
  },
);
