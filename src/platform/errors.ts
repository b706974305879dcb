/**
 * The few ways a request can be refused, as error classes. The code that knows throws one (a
 * repository that finds no row, a use case whose rule is broken); the HTTP error handler alone turns
 * it into a status and FastAPI's `detail` shape (platform/http.ts). Nothing else writes 4xx answers.
 */
export abstract class DomainError extends Error {
  /** The HTTP status the error handler answers with. */
  abstract readonly status: number;
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
  /** What the answer's `detail` holds. */
  get detail(): unknown {
    return this.message;
  }
}

/** No token, a token that no longer verifies, or a wrong password: 401 with a Bearer challenge. */
export class Unauthenticated extends DomainError {
  readonly status = 401;
  constructor(message = 'Not authenticated') {
    super(message);
  }
}

/** The caller is known but may not do this: 403. */
export class Forbidden extends DomainError {
  readonly status = 403;
}

/** No such thing (or not one the caller may see): 404, "<what> not found" unless a message is given. */
export class NotFound extends DomainError {
  readonly status = 404;
  constructor(what: string, message = `${what} not found`) {
    super(message);
  }
}

/** The request is valid but clashes with what is held (a taken name, a type in use): 409. */
export class Conflict extends DomainError {
  readonly status = 409;
}

/** One field is refused: 422 naming the field (`loc`, as FastAPI does) and the reason. */
export class InvalidField extends DomainError {
  readonly status = 422;
  constructor(
    readonly loc: readonly (string | number)[],
    message: string,
    readonly type = 'value_error',
  ) {
    super(message);
  }
  override get detail(): unknown {
    return [{ loc: this.loc, msg: this.message, type: this.type }];
  }
}

/** Too many attempts: 429 with Retry-After. */
export class Throttled extends DomainError {
  readonly status = 429;
  constructor(
    message: string,
    readonly retryAfterS: number,
  ) {
    super(message);
  }
}

/** Something the answer needs (Redis, the database) is not answering: 503 with Retry-After; worth retrying. */
export class Unavailable extends DomainError {
  readonly status = 503;
  readonly retryAfterS = 5;
}
