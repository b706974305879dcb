import { Type } from 'typebox';
import { NotFound } from '../../platform/errors.js';
import { type App, AUTH_ERRORS, authenticate, ErrorResponse } from '../../platform/http.js';
import { listPage, NEXT_CURSOR_HEADER } from '../../platform/pagination.js';
import type { RequestDeps } from '../deps.js';
import { findSetting, listSettings, SETTING_ORDER, type SyncedSettingRow, settingKey } from './settings.repository.js';
import { SettingKeyParams, SettingsQuery, SyncedSetting } from './settings.schemas.js';

const settingOut = (s: SyncedSettingRow) => ({ ...s, value: JSON.parse(s.value) as unknown });

/** The synced settings, read-only. Deleted settings are not shown. */
export function registerSyncedSettingRoutes(app: App, deps: RequestDeps): void {
  const db = deps.db.kysely;
  app.get(
    '/settings',
    {
      preHandler: [authenticate],
      schema: {
        tags: ['settings'],
        summary: `One page of synced settings in key order (the next page: ${NEXT_CURSOR_HEADER})`,
        security: [{ bearer: [] }],
        querystring: SettingsQuery,
        response: { 200: Type.Array(SyncedSetting), ...AUTH_ERRORS },
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
      preHandler: [authenticate],
      schema: {
        tags: ['settings'],
        security: [{ bearer: [] }],
        params: SettingKeyParams,
        response: { 200: SyncedSetting, 404: ErrorResponse, ...AUTH_ERRORS },
      },
    },
    async (req) => {
      const row = await findSetting(db, req.params.key);
      if (!row) throw new NotFound(`setting "${req.params.key}"`);
      return settingOut(row);
    },
  );
}
