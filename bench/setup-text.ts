import { cloudConfig, edgeConfig } from './harness/mosquitto.js'
import { outpostYaml, shippedLaunch, type BatchProbe } from './harness/outpost.js'

/** `VAR=value node --flags dist/cli/main.js`, as `npm start` has it. */
function launchLine(): string {
  const { env, nodeFlags } = shippedLaunch()
  return [...Object.entries(env).map(([k, v]) => `${k}=${v}`), 'node', ...nodeFlags, 'dist/cli/main.js'].join(' ')
}

/** The "how it was measured" part of docs/benchmarks.md, with the configs the harness really writes. */
export function setupText(batch: BatchProbe): string {
  const edge = edgeConfig('DIR', 'PORT', 'CLOUD_PORT', 'bench-bridge-N').filter((l) => l !== 'user root')
  const cloud = cloudConfig('DIR', 'CLOUD_PORT').filter((l) => l !== 'user root')
  const yaml = outpostYaml({ dir: 'DIR', port: 'PORT', cloudPort: 'CLOUD_PORT', upstreamClientId: 'bench-outpost-N', ...(batch.available ? { batchYaml: batch.yaml } : {}) })
  return `## How it was measured

Code: \`bench/run.ts\` (CLI), \`bench/harness/\` (processes, load, subscriber, /proc, stats, this report),
\`bench/scenarios/\` (one file per scenario).

- **Processes.** One upstream ("cloud") Mosquitto for the whole run. The edge is either Outpost
  (\`${launchLine()} start --config FILE\`, the built package, with
  the environment and node flags of \`npm start\`) or an edge Mosquitto bridging to
  the cloud. Every measured run gets a fresh edge (new data dir, new port), is warmed up with 100
  events that must reach the cloud (the throughput runs: with their own load, below), and is
  stopped with SIGTERM afterwards. Within each round the
  systems run one after the other (A B), so rounds alternate A B A B. Everything (edge, cloud,
  generator, subscriber) shares the machine's cores.
- **Devices.** A load generator in its own worker thread speaks MQTT 3.1.1 over raw TCP
  (hand-encoded packets, no client library): N device connections, QoS 1, 100-byte payloads
  carrying a run tag, the publisher, a sequence number and the send time
  (\`process.hrtime.bigint()\`, CLOCK_MONOTONIC). "Burst" loads keep up to 100 publishes in flight
  per device; "paced" loads spread a rate over 10 devices with a 1 ms timer.
- **Cloud subscriber.** One raw MQTT 3.1.1 connection to the cloud, persistent session, \`#\` at
  QoS 1, a PUBACK for every message; it reconnects every 10 ms while the cloud is down. Each
  arrival is matched by its tag, counted once per (device, sequence) in a bitmap (duplicates
  counted apart), and its latency is arrival time - send time. Outpost's batched messages are
  decoded (CBOR) and every event inside counted the same way.
- **The harness is not the bottleneck.** In the same run it carries the Mosquitto bridge's rates
  (several times Outpost's), and the throughput log gives, for every run, the event-loop use of
  the generator thread and of the subscriber thread: well below 100% means the harness was waiting
  on the edge, not the other way round.
- **Resources.** RSS from \`/proc/PID/status\` (VmRSS), CPU time (user + system) from
  \`/proc/PID/stat\`, of the edge process (the node process of Outpost, the mosquitto process
  of the bridge). The 10-publisher throughput runs and the outage drain also give the CPU per
  event of the cloud broker and of the bench process (generator and subscriber, all threads), and
  the share of all cores the three used together. Everything runs on the same cores: when that
  share is near 100%, a rate is bounded by the sum of the three per event, and a cheaper edge
  leaves more CPU to the cloud broker.
- **Fairness choices.** Outpost runs with its defaults (spool fsync before every PUBACK, group
  commit without an added wait, uplink window 1024 capped by the cloud's Receive Maximum, MQTT 5
  upstream) except reconnect: first retry after 100 ms, then
  at most every second. The bridge uses issue 4's settings plus \`restart_timeout 1 1\`, which
  makes mosquitto 2.0.11 retry about every 2 s, the shortest it does (a constant
  \`restart_timeout 1\` gave ~6 s). With both defaults (30 s caps) "time to first delivery" would
  measure the backoff. Mosquitto never fsyncs; it writes its queue to disk on SIGTERM and every
  \`autosave_interval\` (default 1800 s): that is why it loses the backlog on \`kill -9\`.

### The scenarios

1. **Steady throughput**: 1 and 10 devices, 100,000 events (20,000 quick). Delivered/s = events
   / (last arrival at the cloud - first publish). PUBACKed/s = events / (last PUBACK - first publish).
   Each run is preceded by a warm-up with the same devices and a fifth as many events (not
   counted; the run starts when the cloud has them all): steady throughput is that of a gateway
   that has been running, not of a Node.js process whose hot paths V8 has not compiled yet.
2. **Latency**: 10 devices sharing 1,000 and 5,000 events/s for 10 s (4 s quick), after a warm-up
   of 3 s (2 s quick) at the same rate that is not counted (a fresh Outpost delivers its first
   second of traffic ~0.5 s late; its p99 is in the run log). p50/p99 over every event of the run.
   Outpost writes its status line every second here (\`log.statusIntervalMs: 1000\`); it carries
   the p99 of the fsync'd commits a PUBACK waits for, per second. The median and the largest of
   those over the measured run are the floor under Outpost's own p99 on this disk (Mosquitto
   writes nothing before its PUBACK).
3. **Outage**: the cloud stops (SIGTERM), 10 devices publish 100,000 events (20,000 quick), all
   PUBACKed by the edge; the cloud starts again. Times count from the moment it accepts
   connections; drain rate = events / (last arrival - first arrival). The 1M rows come from the
   backlog scenario below (Outpost, the bridge and Outpost batched); a batched drain of 100,000
   events lasts a few hundred milliseconds, of 1M a few seconds. The 1M drain's edge CPU is also
   given with the 3 s after the last arrival, which counts work the edge leaves for after a drain
   (its compaction of the acknowledged head).
4. **Memory** and 5. **Start-up**: one life cycle per system and round with a 1,000,000-event
   backlog (100,000 quick): idle RSS 2 s after warm-up; cloud down; publish the backlog; RSS
   holding it, 1 s and 10 s after the last PUBACK; SIGTERM; start on the same data (spawn → first
   CONNACK = start-up time); RSS after that restart; cloud back; drain; RSS 3 s after the last
   arrival. Outpost batched goes through the same cycle. "Added by the backlog" = RSS holding it - RSS idle. 1 s after the burst, Outpost's
   figure is mostly heap grown while ingesting (V8 shrinks its young generation only after seconds
   without allocation, and the gateway collects once it goes quiet), not the backlog itself, which
   lives in LevelDB; the 10 s figure is what holding it costs, and the target is checked on it.
6. **kill -9**: cloud down, 50,000 events PUBACKed (10,000 quick), SIGKILL of the edge, start on
   the same data, cloud back; lost = PUBACKed events that never arrive (waiting until all arrived,
   or nothing new for 5 s and at least 10 s after the restart).
7. **CPU per event**: edge CPU time during the throughput runs / events delivered; with 10
   publishers also the cloud broker's and the bench's, and the machine's busy share (see Resources).

Outpost batched (\`upstream.batch\`): ${batch.note}.

### Configs (as the harness writes them; DIR, PORT, CLOUD_PORT and N filled in per run)

Edge Mosquitto (the bridge):

\`\`\`
${edge.join('\n')}
\`\`\`

Cloud Mosquitto (\`max_inflight_messages 0\` so the subscriber leg is never the narrow part; it
also means the cloud announces no Receive Maximum to MQTT 5 clients, where the default would
announce 20 and cap Outpost's uplink window of 64 at 20; the bridge, MQTT 3.1.1, keeps its own
default of 20 messages in flight to the cloud):

\`\`\`
${cloud.join('\n')}
\`\`\`

Outpost:

\`\`\`yaml
${yaml.join('\n').trimEnd()}
\`\`\`

When running as root, both Mosquitto configs also get \`user root\`.`
}
