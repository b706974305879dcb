/**
 * Resolves with `promise`, or with undefined once `ms` pass (the promise may still settle later, and
 * its outcome is then dropped). Rejects when `promise` rejects first.
 */
export async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<undefined>((r) => {
        timer = setTimeout(() => r(undefined), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
