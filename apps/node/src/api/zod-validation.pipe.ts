import { Injectable, type PipeTransform } from '@nestjs/common'
import type { z } from 'zod'
import { ValidationFailedError } from '../common/errors'

/**
 * Validates a request part against a zod schema; failures become 400 VALIDATION_FAILED with
 * every issue in `details`.
 *
 * @example
 * create(@Body(new ZodValidationPipe(createKeySchema)) body: CreateKeyRequest) { ... }
 */
@Injectable()
export class ZodValidationPipe<S extends z.ZodType> implements PipeTransform<unknown, z.infer<S>> {
  constructor(private readonly schema: S) {}

  transform(value: unknown): z.infer<S> {
    const res = this.schema.safeParse(value)
    if (res.success) return res.data
    const issues = res.error.issues.map((i) => ({ path: i.path.map(String).join('.') || '(body)', message: i.message }))
    throw new ValidationFailedError(`invalid request: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, { issues })
  }
}
