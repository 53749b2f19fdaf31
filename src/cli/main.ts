#!/usr/bin/env -S MALLOC_MMAP_THRESHOLD_=131072 node --v8-pool-size=1
import v8 from 'node:v8'

// Loading the gateway's modules allocates tens of megabytes, most of it
// surviving young-generation collections, and V8 answers by growing its young
// generation to its maximum (32 MB), where it stays while the gateway idles.
// The young generation keeps its initial size while the modules load; it may
// grow again once a command runs (see "Memory" in docs/architecture.md).
v8.setFlagsFromString('--semi-space-growth-factor=1')
const { runCli } = await import('./run.js')

process.exitCode = await runCli(process.argv.slice(2), { env: process.env, stdout: process.stdout, stderr: process.stderr })
