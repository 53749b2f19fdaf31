import type { Context } from '../harness/context.js'
import type { ScenarioResult } from '../harness/metrics.js'
export async function latency(_ctx: Context): Promise<ScenarioResult> { throw new Error('todo') }
