import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'

/**
 * Throwaway certificates for TLS tests, made at test time with the openssl
 * CLI into a directory the test owns: a CA, and leaf certificates it signs.
 * P-256 keys (fast to make), valid for two days. A missing openssl is an
 * error, never a reason to skip.
 */

const OPENSSL_BIN = process.env.OPENSSL_BIN ?? 'openssl'

/** Paths to a PEM certificate and its unencrypted PEM private key. */
export interface CertFiles {
  cert: string
  key: string
}

export interface LeafOptions {
  /** Subject common name. */
  cn: string
  /** subjectAltName entries. */
  dns?: string[]
  ips?: string[]
  usage: 'serverAuth' | 'clientAuth'
}

const NEW_EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']

function openssl(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(OPENSSL_BIN, args, (err, _stdout, stderr) => {
      if (err === null) return resolve()
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        reject(new Error(`TLS tests need the openssl CLI: '${OPENSSL_BIN}' was not found ` +
          '(apt-get install -y openssl, or set OPENSSL_BIN)'))
        return
      }
      reject(new Error(`openssl ${args.slice(0, 2).join(' ')} failed: ${stderr.trim() || err.message}`))
    })
  })
}

/** A self-signed CA named `name`, written to `<dir>/<name>.pem` and `.key`. */
export async function createCa(dir: string, name: string): Promise<CertFiles> {
  const files = { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) }
  await openssl([
    'req', '-x509', ...NEW_EC_KEY, '-keyout', files.key, '-out', files.cert, '-days', '2', '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ])
  return files
}

/** A certificate signed by `ca`, written to `<dir>/<name>.pem` and `.key`. */
export async function issueCert(dir: string, ca: CertFiles, name: string, opts: LeafOptions): Promise<CertFiles> {
  const files = { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) }
  const csr = join(dir, `${name}.csr`)
  const extensions = join(dir, `${name}.ext`)
  const san = [...(opts.dns ?? []).map((d) => `DNS:${d}`), ...(opts.ips ?? []).map((ip) => `IP:${ip}`)]
  const lines = ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature', `extendedKeyUsage=${opts.usage}`]
  if (san.length > 0) lines.push(`subjectAltName=${san.join(',')}`)
  await writeFile(extensions, lines.join('\n') + '\n')
  await openssl(['req', '-new', ...NEW_EC_KEY, '-keyout', files.key, '-out', csr, '-subj', `/CN=${opts.cn}`])
  await openssl([
    'x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-set_serial', `0x${randomBytes(8).toString('hex')}`,
    '-days', '2', '-extfile', extensions, '-out', files.cert,
  ])
  return files
}
