import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { type App, AUTH_ERRORS, authenticate, requireAdmin } from '../../platform/http.js';
import { listPage, NEXT_CURSOR_HEADER } from '../../platform/pagination.js';
import type { ResponseDeps } from '../deps.js';
import { AUDIT_ORDER } from './audit.repository.js';
import { AuditEntryOut, AuditQuery } from './audit.schemas.js';
import { type AuditContext, auditFilter, readAudit } from './audit.service.js';

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
        summary: `Who changed what, when and from where: one page, newest first (the next page: ${NEXT_CURSOR_HEADER})`,
        security: [{ bearer: [] }],
        querystring: AuditQuery,
        response: { 200: Type.Array(AuditEntryOut), ...AUTH_ERRORS },
      },
    },
    async (req, reply) => {
      const { limit: _l, offset: _o, cursor: _c, ...given } = req.query;
      const filters = auditFilter(given);
      return listPage(
        reply,
        AUDIT_ORDER,
        req.query,
        { ...filters },
        (page) => readAudit(deps.db.kysely, filters, page),
        (row) => [row.at, row.id],
      );
    },
  );
}
