import { SetMetadata } from '@nestjs/common'
import type { TokenRole } from '@tw/api'

export const ROLE_METADATA = 'tw:requiredRole'

/**
 * The least role a route (handler or whole controller) needs. Without it a `GET` under
 * `/api/v1` needs `viewer` and anything else needs `admin` (deny by default).
 *
 * @example
 * @RequireRole('operator') @Post() send() {...}
 */
export const RequireRole = (role: TokenRole) => SetMetadata(ROLE_METADATA, role)

/** What a route needs: nothing (open), or a valid token of at least `role`. */
export type RouteAccess = { open: true } | { open: false; role: TokenRole; sensitive: boolean }

/** Routes that never need a token, and those open unless `TW_METRICS_TOKEN_REQUIRED=true`. */
const ALWAYS_OPEN = new Set(['/health/live'])
const MONITORING = new Set(['/health', '/health/ready', '/metrics'])

/**
 * The access rule of one route. `route` is the route pattern (`/api/v1/keys/:id`), `declared`
 * the role from {@link RequireRole}. Non-GET routes under `/api/v1` move money or keys (sends,
 * presignatures, keys, unban, drill, tokens): their denials are audited (`sensitive`).
 */
export function routeAccess(method: string, route: string, declared: TokenRole | undefined, metricsTokenRequired: boolean): RouteAccess {
  if (ALWAYS_OPEN.has(route)) return { open: true }
  if (MONITORING.has(route)) return metricsTokenRequired ? { open: false, role: declared ?? 'viewer', sensitive: false } : { open: true }
  const read = method === 'GET' || method === 'HEAD'
  return { open: false, role: declared ?? (read ? 'viewer' : 'admin'), sensitive: !read }
}

/** `/` + the controller path + the handler path, normalized (`api/v1/keys` + `:id`). */
export function joinRoute(controllerPath: string | string[] | undefined, handlerPath: string | string[] | undefined): string {
  const first = (p: string | string[] | undefined) => (Array.isArray(p) ? (p[0] ?? '') : (p ?? ''))
  const parts = [first(controllerPath), first(handlerPath)].map((p) => p.replace(/^\/+|\/+$/g, '')).filter(Boolean)
  return '/' + parts.join('/')
}
