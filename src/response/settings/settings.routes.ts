import { Type } from 'typebox';
import { InvalidField, NotFound } from '../../platform/errors.js';
import { type App, AUTH_ERRORS, authenticate, ErrorResponse, requireAdmin } from '../../platform/http.js';
import { listPage, NEXT_CURSOR_HEADER } from '../../platform/pagination.js';
import { auditContextOf } from '../audit/audit.routes.js';
import type { ResponseDeps } from '../deps.js';
import { findSetting, listSettings, SETTING_ORDER, type SettingRow, settingKey } from './settings.repository.js';
import {
  SettingCreate,
  SettingKeyParams,
  SettingOut,
  SettingsQuery,
  SettingUpdate,
  settingKeyProblem,
} from './settings.schemas.js';
import { changeSetting, createSetting, deleteSetting } from './settings.service.js';

export const settingOut = (s: SettingRow) => ({
  id: s.id,
  key: s.key,
  value: JSON.parse(s.value) as unknown,
  version: s.version,
  created_at: s.created_at,
  updated_at: s.updated_at,
});

/** Refuses a key that breaks the rule; in the path it can name no setting, so say so rather than answer 404. */
function checkKey(where: 'body' | 'path', key: string): void {
  const problem = settingKeyProblem(key);
  if (problem) throw new InvalidField([where, 'key'], problem);
}

/** Settings: admin only. Every change is exported to the Request Network within a second. */
export function registerSettingRoutes(app: App, deps: ResponseDeps): void {
  const db = deps.db.kysely;
  const guard = { preHandler: [authenticate, requireAdmin] };
  const tags = ['settings'];
  const security = [{ bearer: [] }];

  app.post(
    '/settings',
    {
      ...guard,
      schema: {
        tags,
        security,
        body: SettingCreate,
        response: { 201: SettingOut, 409: ErrorResponse, ...AUTH_ERRORS },
      },
    },
    async (req, reply) => {
      const { key, value } = req.body;
      checkKey('body', key);
      const row = await createSetting(db, key, value, auditContextOf(req));
      req.log.info({ setting: key }, 'setting created');
      await deps.enqueue('export_settings_to_request_network', {}, req.log);
      return reply.status(201).send(settingOut(row));
    },
  );

  app.get(
    '/settings',
    {
      ...guard,
      schema: {
        tags,
        security,
        summary: `One page of settings in key order (the next page: ${NEXT_CURSOR_HEADER})`,
        querystring: SettingsQuery,
        response: { 200: Type.Array(SettingOut), ...AUTH_ERRORS },
      },
    },
    async (req, reply) => {
      const filters = { prefix: req.query.prefix };
      const rows = await listPage(
        reply,
        SETTING_ORDER,
        req.query,
        filters,
        (page) => listSettings(db, filters, page),
        settingKey,
      );
      return rows.map(settingOut);
    },
  );

  app.get(
    '/settings/:key',
    {
      ...guard,
      schema: {
        tags,
        security,
        params: SettingKeyParams,
        response: { 200: SettingOut, 404: ErrorResponse, ...AUTH_ERRORS },
      },
    },
    async (req) => {
      checkKey('path', req.params.key);
      const row = await findSetting(db, req.params.key);
      if (!row) throw new NotFound(`setting "${req.params.key}"`);
      return settingOut(row);
    },
  );

  app.put(
    '/settings/:key',
    {
      ...guard,
      schema: {
        tags,
        security,
        summary: "Replace an existing setting's value (create one with POST /settings)",
        params: SettingKeyParams,
        body: SettingUpdate,
        response: { 200: SettingOut, 404: ErrorResponse, ...AUTH_ERRORS },
      },
    },
    async (req) => {
      checkKey('path', req.params.key);
      const row = await changeSetting(db, req.params.key, req.body.value, auditContextOf(req));
      req.log.info({ setting: row.key, version: row.version }, 'setting changed');
      await deps.enqueue('export_settings_to_request_network', {}, req.log);
      return settingOut(row);
    },
  );

  app.delete(
    '/settings/:key',
    {
      ...guard,
      schema: {
        tags,
        security,
        params: SettingKeyParams,
        response: { 204: Type.Null(), 404: ErrorResponse, ...AUTH_ERRORS },
      },
    },
    async (req, reply) => {
      checkKey('path', req.params.key);
      const row = await deleteSetting(db, req.params.key, auditContextOf(req));
      req.log.info({ setting: row.key, version: row.version }, 'setting deleted');
      await deps.enqueue('export_settings_to_request_network', {}, req.log);
      return reply.status(204).send(null);
    },
  );
}
