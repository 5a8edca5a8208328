import type { FastifyError, FastifyReply } from 'fastify';
import { ZodError } from 'zod';
import { OutpostError, isOutpostError, toProblem } from '../protocol/index.ts';

/** Map anything thrown while serving a request onto an OutpostError. */
export function asOutpostError(e: unknown): OutpostError {
  if (isOutpostError(e)) return e;
  if (e instanceof ZodError) {
    const issues = e.issues.slice(0, 20).map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`);
    return new OutpostError('VALIDATION_FAILED', issues.join('; '), { issues });
  }
  const fe = e as Partial<FastifyError>;
  switch (fe.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new OutpostError('BODY_TOO_LARGE', fe.message ?? 'body too large');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new OutpostError('UNSUPPORTED_MEDIA_TYPE', 'send the body as application/json');
    case 'OUTPOST_BAD_GZIP':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new OutpostError('INVALID_JSON', fe.message ?? 'invalid JSON');
  }
  if (e instanceof SyntaxError || (fe.statusCode === 400 && /JSON|proto|constructor/i.test(fe.message ?? ''))) {
    return new OutpostError('INVALID_JSON', (e as Error).message);
  }
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return new OutpostError('BAD_REQUEST', fe.message ?? 'bad request');
  }
  return new OutpostError('INTERNAL', 'internal error; see the hub log');
}

export function sendProblem(reply: FastifyReply, e: OutpostError): FastifyReply {
  return reply.code(e.status).type('application/problem+json').send(JSON.stringify(toProblem(e)));
}
