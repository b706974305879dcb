import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { type App, AUTH_ERRORS, authenticate, requireAdmin } from '../../platform/http.js';
import type { ResponseDeps } from '../deps.js';
import { AuditEntryOut, AuditQuery } from './audit.schemas.js';
import { type AuditContext, readAudit } from './audit.service.js';

/**
 * Who is acting and from where, for the audit row of this request's write: the token's user (pass
 * `null` before anyone is authenticated), the client address and the request id.
 */
export function auditContextOf(
  req: FastifyRequest,
  actor: AuditContext['actor'] = { id: req.user.sub, username: req.user.username },
): AuditContext {
  return { actor, ip: req.ip, requestId: req.id };
}

/** GET /audit: the audit trail, admin only. */
export function registerAuditRoutes(app: App, deps: ResponseDeps): void {
  app.get(
    '/audit',
    {
      preHandler: [authenticate, requireAdmin],
      schema: {
        tags: ['audit'],
        summary: 'Who changed what, when and from where: one page, newest first',
        security: [{ bearer: [] }],
        querystring: AuditQuery,
        response: { 200: Type.Array(AuditEntryOut), ...AUTH_ERRORS },
      },
    },
    async (req) => readAudit(deps.db.kysely, req.query),
  );
}
