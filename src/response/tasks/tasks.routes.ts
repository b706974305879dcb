import { Type } from 'typebox';
import { NotFound, Unavailable } from '../../platform/errors.js';
import { type App, AUTH_ERRORS, authenticate, ErrorResponse, requireAdmin } from '../../platform/http.js';
import { taskInfo } from '../../platform/task-state.js';
import { auditContextOf } from '../audit/audit.routes.js';
import { recordAudit } from '../audit/audit.service.js';
import type { ResponseDeps } from '../deps.js';
import { isResponseTask, RESPONSE_TASKS } from './registry.js';

const TaskOut = Type.Object({
  task_id: Type.String(),
  name: Type.String(),
  state: Type.Union([
    Type.Literal('PENDING'),
    Type.Literal('STARTED'),
    Type.Literal('RETRY'),
    Type.Literal('SUCCESS'),
    Type.Literal('FAILURE'),
  ]),
  result: Type.Unknown(),
  error: Type.Union([Type.String(), Type.Null()]),
  traceback: Type.Union([Type.String(), Type.Null()]),
  attempts: Type.Integer(),
  created_at: Type.String(),
  started_at: Type.Union([Type.String(), Type.Null()]),
  finished_at: Type.Union([Type.String(), Type.Null()]),
});

/** GET /tasks/{id}, what `AsyncResult` is in the seed, and POST /tasks/{name}/run, what `.delay()` is. */
export function registerTaskRoutes(app: App, deps: ResponseDeps): void {
  app.get(
    '/tasks/:id',
    {
      preHandler: [authenticate],
      schema: {
        tags: ['tasks'],
        summary: "A task's state and result, as Celery's AsyncResult shows it (results are kept 1 hour)",
        security: [{ bearer: [] }],
        params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 128 }) }),
        response: { 200: TaskOut, 404: ErrorResponse, ...AUTH_ERRORS },
      },
    },
    async (req) => {
      const info = await taskInfo(deps.queue, req.params.id);
      if (!info) throw new NotFound('task (unknown id, or its result expired after 1 hour)');
      return info;
    },
  );

  app.post(
    '/tasks/:name/run',
    {
      preHandler: [authenticate, requireAdmin],
      schema: {
        tags: ['tasks'],
        summary: 'Run an export task now, snapshot included; follow it with GET /tasks/{task_id}',
        security: [{ bearer: [] }],
        params: Type.Object({ name: Type.String({ minLength: 1, maxLength: 128 }) }),
        response: {
          202: Type.Object({ task_id: Type.String() }),
          404: ErrorResponse,
          503: ErrorResponse,
          ...AUTH_ERRORS,
        },
      },
    },
    async (req, reply) => {
      const { name } = req.params;
      if (!isResponseTask(name)) {
        const known = Object.keys(RESPONSE_TASKS).join(', ');
        throw new NotFound('task', `no task named "${name}"; known tasks: ${known}`);
      }
      const taskId = await deps.enqueue(name, { snapshot: true, rewrite: true }, req.log);
      if (taskId === null) throw new Unavailable('the task queue (Redis) is not answering; try again');
      req.log.info({ task: name, task_id: taskId, by: req.user.sub }, 'task run requested');
      // After the enqueue, alone: the run is in Redis, with no transaction to share, and a run that was
      // never queued (503 above) is no write to record.
      await recordAudit(deps.db.kysely, auditContextOf(req), {
        action: 'task.run',
        target: { type: 'task', id: name },
        details: { task_id: taskId },
      });
      return reply.status(202).send({ task_id: taskId });
    },
  );
}
