import { ConfigError } from '../../src/config/index.js'

/** The ConfigError that `fn` throws; fails the test if it throws nothing or something else. */
export function caughtConfigError(fn: () => unknown): ConfigError {
  try {
    fn()
  } catch (err) {
    if (err instanceof ConfigError) return err
    throw err
  }
  throw new Error('expected a ConfigError, got none')
}
