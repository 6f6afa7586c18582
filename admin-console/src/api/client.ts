import createClient, { type Middleware } from 'openapi-fetch';
import type { components, paths } from './schema';
import type { Session } from '../session';

export type Schemas = components['schemas'];
export type ApiClient = ReturnType<typeof createClient<paths>>;

export interface FieldProblem {
  field: string;
  message: string;
}

/** A non-2xx answer: its status, the server's message and per-field problems. */
export class ApiError extends Error {
  readonly status: number;
  readonly details: FieldProblem[];

  constructor(status: number, message: string, details: FieldProblem[]) {
    super(message);
    this.status = status;
    this.details = details;
  }

  fieldMessage(field: string): string | undefined {
    return this.details.find((d) => d.field === field || d.field.endsWith(`.${field}`))?.message;
  }
}

export function createApi(session: Session): ApiClient {
  const client = createClient<paths>({ baseUrl: session.apiUrl.replace(/\/+$/, '') });
  const withKey: Middleware = {
    onRequest({ request }) {
      request.headers.set('X-API-KEY', session.apiKey);
      return request;
    },
  };
  client.use(withKey);
  return client;
}

interface Answer<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/** The answer's data, or an ApiError carrying the server's explanation. */
export async function unwrap<T>(pending: Promise<Answer<T>>): Promise<T> {
  const { data, error, response } = await pending;
  if (response.ok && error === undefined) return data as T;
  const body = (error ?? {}) as { error?: unknown; details?: unknown };
  const message = typeof body.error === 'string' ? body.error : `HTTP ${response.status}`;
  const details = Array.isArray(body.details)
    ? (body.details as FieldProblem[]).filter((d) => typeof d?.message === 'string')
    : [];
  throw new ApiError(response.status, message, details);
}

/** JSON text in which the given decimal strings become JSON numbers digit for digit. */
export function jsonWithExactNumbers(value: unknown, numbers: Record<string, string>): string {
  const marks = new Map<string, string>();
  const text = JSON.stringify(value, (key, item: unknown) => {
    if (typeof item === 'string' && key in numbers && numbers[key] === item) {
      const mark = `@@exact${marks.size}@@`;
      marks.set(mark, item);
      return mark;
    }
    return item;
  });
  let out = text;
  for (const [mark, digits] of marks) out = out.replace(JSON.stringify(mark), digits);
  return out;
}
