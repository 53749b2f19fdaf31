/**
 * `outpost docs [--out DIR] [--format md|html]`: the gateway's AsyncAPI
 * document (what the cloud receives) and a readable page generated from it.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { asyncapiProblems } from '../contracts/asyncapi-validate.js'
import { htmlPage, markdownPage } from '../contracts/doc-page.js'
import { gatewayDocument } from '../contracts/gateway-doc.js'
import { ErrorCodes, OutpostError } from '../errors.js'
import { CommandExit } from './command-config.js'
import { contractsFor } from './contracts-arg.js'
import { ExitCodes } from './exit-codes.js'
import type { CliIo } from './run.js'

function outpostVersion(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version
}

export async function docsCommand(a: { configFile: string | undefined; contractsDir: string | undefined; out: string | undefined; format: string | undefined; io: CliIo }): Promise<number> {
  const format = a.format ?? 'md'
  if (format !== 'md' && format !== 'html') throw new OutpostError(ErrorCodes.CLI_USAGE, `--format is md or html, got "${format}"`)
  let loaded
  try {
    loaded = contractsFor(a.contractsDir, a.configFile, a.io, true)
  } catch (err) {
    if (err instanceof CommandExit) return err.exitCode
    throw err
  }
  const doc = gatewayDocument({ config: loaded.config!, contracts: loaded.contracts, outpostVersion: outpostVersion() })
  const problems = asyncapiProblems(doc)
  if (problems.length > 0) {
    // The generator's own output must be valid AsyncAPI; this is a bug if it happens.
    a.io.stderr.write(`outpost: the generated document is not valid AsyncAPI 3.0.0: ${problems.map((p) => `${p.pointer}: ${p.message}`).join('; ')}\n`)
    return ExitCodes.FAILURE
  }
  const out = a.out ?? 'outpost-docs'
  mkdirSync(out, { recursive: true })
  const docFile = join(out, 'outpost-asyncapi.yaml')
  const pageFile = join(out, `outpost-asyncapi.${format}`)
  writeFileSync(docFile, stringify(doc, { aliasDuplicateObjects: false, lineWidth: 0 }))
  writeFileSync(pageFile, format === 'md' ? markdownPage(doc) : htmlPage(doc))
  a.io.stdout.write(`wrote ${docFile} and ${pageFile} (${Object.keys(doc['channels'] as object).length} channels from ${loaded.contracts.length} contracts)\n`)
  return ExitCodes.OK
}
