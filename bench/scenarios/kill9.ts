import type { Context } from '../harness/context.js'
import type { ScenarioResult } from '../harness/metrics.js'
export async function kill9(_ctx: Context): Promise<ScenarioResult> { throw new Error('todo') }
