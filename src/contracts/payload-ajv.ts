/**
 * The ajv instance payload schemas are compiled with. Strict, so a misspelt
 * keyword in a contract (`minimun`) stops start-up instead of silently
 * validating nothing. `format` is an annotation here: formats are not checked.
 */
import { Ajv, type ValidateFunction } from 'ajv'

let ajv: Ajv | undefined

export function compilePayloadSchema(schema: unknown): ValidateFunction {
  if (ajv === undefined) {
    ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false, strictTypes: false, allowUnionTypes: true, validateFormats: false })
    // Schema Object keywords AsyncAPI adds to JSON Schema; annotations only.
    ajv.addVocabulary(['externalDocs', 'discriminator'])
  }
  return ajv.compile(schema as object)
}
