import { Type } from 'typebox';
import { type App, AUTH_ERRORS, authenticate, ErrorResponse, requireAdmin } from '../../platform/http.js';
import type { ResponseDeps } from '../deps.js';
import { isResponseTask, RESPONSE_TASKS } from './registry.js';

/** POST /tasks/{name}/run: what `.delay()` is in the seed, for an operator. */
export function registerTaskRunRoute(app: App, deps: ResponseDeps): void {
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
        return reply.status(404).send({ detail: `no task named "${name}"; known tasks: ${known}` });
      }
      const taskId = await deps.enqueue(name, { snapshot: true }, req.log);
      if (taskId === null)
        return reply.status(503).send({ detail: 'the task queue (Redis) is not answering; try again' });
      req.log.info({ task: name, task_id: taskId, by: req.user.sub }, 'task run requested');
      return reply.status(202).send({ task_id: taskId });
    },
  );
}
